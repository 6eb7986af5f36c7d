package git

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bindsync/bindsync/internal/staterepo"
)

// DefaultAttempts is a sensible bound for Publish's retries.
const DefaultAttempts = 5

// Publish is the commit-and-push loop with bounded retry: it fetches,
// calls build with the branch's current head (ZeroHash when the branch is
// missing) to get the tree and message, commits and pushes; on
// ErrNonFastForward (another writer won the race) it fetches and calls
// build again on the new head, up to attempts times. changed is false when
// build's tree equals the head's: then nothing is committed or pushed and
// rev names the head.
func (r *Repo) Publish(ctx context.Context, branch string, attempts int,
	build func(head plumbing.Hash) (staterepo.Tree, staterepo.Message, error)) (staterepo.Revision, bool, error) {
	return r.PublishCommit(ctx, branch, attempts, func(head plumbing.Hash) (plumbing.Hash, bool, error) {
		tree, msg, err := build(head)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		return r.Commit(head, tree, msg)
	})
}

// PublishCommit is Publish for callers that make the commit themselves
// (with CommitDirs, say): commit gets the head and returns what Commit
// returns.
func (r *Repo) PublishCommit(ctx context.Context, branch string, attempts int,
	commit func(head plumbing.Hash) (plumbing.Hash, bool, error)) (staterepo.Revision, bool, error) {
	if attempts < 1 {
		attempts = 1
	}
	var lastErr error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			r.stats.pushRetries.Add(1)
		}
		if err := r.Fetch(ctx); err != nil {
			return staterepo.Revision{}, false, fmt.Errorf("publish %s: %w", branch, err)
		}
		head, err := r.Head(branch)
		if err != nil {
			return staterepo.Revision{}, false, err
		}
		next, changed, err := commit(head)
		if err != nil {
			return staterepo.Revision{}, false, fmt.Errorf("publish %s to %s: build on %s: %w", branch, r.where, short(head), err)
		}
		if !changed {
			return staterepo.Revision{Branch: branch, Hash: head}, false, nil
		}
		err = r.Push(ctx, branch, head, next)
		if err == nil {
			return staterepo.Revision{Branch: branch, Hash: next}, true, nil
		}
		if !errors.Is(err, ErrNonFastForward) {
			return staterepo.Revision{}, false, fmt.Errorf("publish %s: %w", branch, err)
		}
		lastErr = err
	}
	return staterepo.Revision{}, false, fmt.Errorf("publish %s to %s: gave up after %d attempts: %w", branch, r.where, attempts, lastErr)
}
