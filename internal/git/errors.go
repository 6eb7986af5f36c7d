package git

import "errors"

var (
	// ErrNonFastForward means a branch was no longer where the caller
	// expected it (another writer moved it): fetch and rebuild on the new head.
	ErrNonFastForward = errors.New("non-fast-forward")
	// ErrInvalidOptions means Options failed Validate.
	ErrInvalidOptions = errors.New("invalid git options")
	// ErrRemote means the remote could not be reached or refused the
	// request (network, authentication, missing repository). It is
	// transient from bindsync's point of view: nothing local is lost.
	ErrRemote = errors.New("git remote unavailable")
	// ErrRefused means the remote answered a push and declined a branch
	// update for a reason other than a lost race (a hook, a protected
	// branch, a permission); it comes with ErrRemote.
	ErrRefused = errors.New("the remote refused the update")
	// ErrInvalidPath means a tree holds a path git cannot store (empty,
	// absolute, "." or ".." segments, or a file and a folder of one name).
	ErrInvalidPath = errors.New("invalid path in tree")
)
