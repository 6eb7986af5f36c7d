package git

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hook installs an executable hook script into a bare repository.
func hook(t *testing.T, bare, name, script string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(bare, "hooks", name), []byte("#!/bin/sh\n"+script), 0o755))
}

// remoteBranches lists the remote's branches with git itself.
func remoteBranches(t *testing.T, bare string) []string {
	t.Helper()
	out := strings.TrimSpace(gitCLI(t, bare, "for-each-ref", "--format=%(refname:short)", "refs/heads/"))
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// TestPushBranchesAreIndependent: several branch moves go in one
// receive-pack, and whatever refuses one of them (git's ref rules, a
// server hook for that ref, a hook declining the whole push, a branch that
// moved) leaves the others pushed.
func TestPushBranchesAreIndependent(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (testRemote, *Repo, plumbing.Hash, []plumbing.Hash) {
		rem := fileRemote(t)
		r := openRepo(t, rem.Options)
		require.NoError(t, r.Fetch(ctx))
		base, _, err := r.Commit(plumbing.ZeroHash, sampleTree("c1"), bindMessage("c1", "pg"))
		require.NoError(t, err)
		require.NoError(t, r.Push(ctx, "main", plumbing.ZeroHash, base))
		var heads []plumbing.Hash
		for _, c := range []string{"a", "b", "c"} {
			h, _, err := r.Commit(base, sampleTree("c1", c), bindMessage(c, "pg"))
			require.NoError(t, err)
			heads = append(heads, h)
		}
		return rem, r, base, heads
	}

	t.Run("three branches in one receive-pack", func(t *testing.T) {
		rem, r, _, heads := setup(t)
		hook(t, rem.Bare, "pre-receive", "wc -l > \"$GIT_DIR/pushed-lines\"\n")
		errs := r.PushBranches(ctx, []BranchUpdate{{"bindsync/approve/a/x", plumbing.ZeroHash, heads[0]},
			{"bindsync/approve/b/x", plumbing.ZeroHash, heads[1]}, {"bindsync/approve/c/x", plumbing.ZeroHash, heads[2]}})
		assert.Equal(t, []error{nil, nil, nil}, errs)
		b, err := os.ReadFile(filepath.Join(rem.Bare, "pushed-lines"))
		require.NoError(t, err)
		assert.Equal(t, "3", strings.TrimSpace(string(b)), "one push carried the three refs")
		assert.Equal(t, []string{"bindsync/approve/a/x", "bindsync/approve/b/x", "bindsync/approve/c/x", "main"}, remoteBranches(t, rem.Bare))
		gitCLI(t, rem.Bare, "fsck", "--strict", "--no-dangling")
	})

	t.Run("a name git refuses fails only its own update", func(t *testing.T) {
		rem, r, _, heads := setup(t)
		errs := r.PushBranches(ctx, []BranchUpdate{{"bindsync/approve/a/x.lock", plumbing.ZeroHash, heads[0]},
			{"bindsync/approve/b/x", plumbing.ZeroHash, heads[1]}})
		require.Error(t, errs[0])
		assert.Contains(t, errs[0].Error(), "x.lock")
		assert.NoError(t, errs[1])
		assert.Equal(t, []string{"bindsync/approve/b/x", "main"}, remoteBranches(t, rem.Bare))
	})

	t.Run("a hook refusing one ref leaves the others pushed", func(t *testing.T) {
		rem, r, _, heads := setup(t)
		hook(t, rem.Bare, "update", "case \"$1\" in *approve/b/*) echo refused by policy >&2; exit 1;; esac\n")
		errs := r.PushBranches(ctx, []BranchUpdate{{"bindsync/approve/a/x", plumbing.ZeroHash, heads[0]},
			{"bindsync/approve/b/x", plumbing.ZeroHash, heads[1]}, {"bindsync/approve/c/x", plumbing.ZeroHash, heads[2]}})
		assert.NoError(t, errs[0])
		require.Error(t, errs[1])
		assert.ErrorIs(t, errs[1], ErrRemote)
		assert.Contains(t, errs[1].Error(), "bindsync/approve/b/x")
		assert.Contains(t, errs[1].Error(), "refused by policy", "what the remote's hook said")
		assert.NoError(t, errs[2])
		assert.Equal(t, []string{"bindsync/approve/a/x", "bindsync/approve/c/x", "main"}, remoteBranches(t, rem.Bare))
		h, err := r.Head("bindsync/approve/b/x")
		require.NoError(t, err)
		assert.True(t, h.IsZero(), "a refused branch is not moved locally")
	})

	t.Run("a hook declining the whole push because of one ref: the others are pushed one by one", func(t *testing.T) {
		rem, r, _, heads := setup(t)
		hook(t, rem.Bare, "pre-receive", "if grep -q approve/b/; then echo no >&2; exit 1; fi\n")
		errs := r.PushBranches(ctx, []BranchUpdate{{"bindsync/approve/a/x", plumbing.ZeroHash, heads[0]},
			{"bindsync/approve/b/x", plumbing.ZeroHash, heads[1]}, {"bindsync/approve/c/x", plumbing.ZeroHash, heads[2]}})
		assert.NoError(t, errs[0])
		assert.Error(t, errs[1])
		assert.NoError(t, errs[2])
		assert.Equal(t, []string{"bindsync/approve/a/x", "bindsync/approve/c/x", "main"}, remoteBranches(t, rem.Bare))
	})

	t.Run("a branch that moved is a non-fast-forward for it alone; deletes go in the same push", func(t *testing.T) {
		rem, r, base, heads := setup(t)
		require.NoError(t, r.Push(ctx, "bindsync/old", plumbing.ZeroHash, base))
		errs := r.PushBranches(ctx, []BranchUpdate{{"bindsync/approve/a/x", heads[1], heads[0]},
			{"bindsync/old", base, plumbing.ZeroHash}, {"bindsync/approve/c/x", plumbing.ZeroHash, heads[2]}})
		assert.ErrorIs(t, errs[0], ErrNonFastForward)
		assert.NoError(t, errs[1])
		assert.NoError(t, errs[2])
		assert.Equal(t, []string{"bindsync/approve/c/x", "main"}, remoteBranches(t, rem.Bare))
	})
}
