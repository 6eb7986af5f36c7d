package staterepo

import (
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Revision names a commit on a branch. Its String form,
// "main@sha1:<40 hex>", is what statuses and logs show.
type Revision struct {
	Branch string
	Hash   plumbing.Hash
}

const revisionSep = "@sha1:"

// ErrInvalidRevision means a revision string is not "<branch>@sha1:<hash>".
var ErrInvalidRevision = errors.New("invalid revision")

// String returns "<branch>@sha1:<hash>".
func (r Revision) String() string { return r.Prefix() + r.Hash.String() }

// ParseRevision reads the String form of a Revision.
func ParseRevision(s string) (Revision, error) {
	i := strings.LastIndex(s, revisionSep)
	if i <= 0 {
		return Revision{}, fmt.Errorf("parse revision %q: want <branch>%s<hash>: %w", s, revisionSep, ErrInvalidRevision)
	}
	branch, hex := s[:i], s[i+len(revisionSep):]
	if len(hex) != 40 || !plumbing.IsHash(hex) {
		return Revision{}, fmt.Errorf("parse revision %q: %q is not a 40-digit hex hash: %w", s, hex, ErrInvalidRevision)
	}
	if err := ValidBranch(branch); err != nil {
		return Revision{}, fmt.Errorf("parse revision %q: %w: %w", s, err, ErrInvalidRevision)
	}
	return Revision{Branch: branch, Hash: plumbing.NewHash(hex)}, nil
}

// ValidBranch rejects branch names git refuses (git check-ref-format
// --branch): checked per slash-separated component too, so
// "bindsync/approve/c1/x.lock" is refused as git would refuse it.
func ValidBranch(b string) error {
	switch {
	case b == "":
		return fmt.Errorf("empty branch name")
	case b == "@", strings.HasPrefix(b, "/"), strings.HasSuffix(b, "/"), strings.HasSuffix(b, "."),
		strings.Contains(b, ".."), strings.Contains(b, "//"), strings.Contains(b, "@{"), strings.HasPrefix(b, "-"):
		return fmt.Errorf("branch name %q is not a valid git ref", b)
	}
	for _, c := range strings.Split(b, "/") {
		if strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".lock") {
			return fmt.Errorf("branch name %q is not a valid git ref: component %q starts with a dot or ends in .lock", b, c)
		}
	}
	for _, r := range b {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(" ~^:?*[\\", r) {
			return fmt.Errorf("branch name %q has character %q git refuses", b, r)
		}
	}
	return nil
}

// Prefix returns "<branch>@sha1:", what every revision on r's branch
// starts with.
func (r Revision) Prefix() string { return r.Branch + revisionSep }
