package git

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/staterepo"
)

// TestConformance runs one suite against every kind of state repository
// bindsync writes: a local bare repository (no remote), a file:// remote
// a smart-HTTP remote (git http-backend behind basic auth) and an ssh remote
// (git upload-pack and receive-pack behind an ssh server, with a client key
// and known_hosts).
func TestConformance(t *testing.T) {
	for name, factory := range map[string]remoteFactory{
		"local bare repository": localRemote,
		"file remote":           fileRemote,
		"smart http remote":     httpRemote,
		"ssh remote":            sshRemote,
	} {
		t.Run(name, func(t *testing.T) { runConformance(t, factory) })
	}
}

func runConformance(t *testing.T, newRemote remoteFactory) {
	ctx := context.Background()
	cases := []struct {
		name string
		run  func(t *testing.T, rem testRemote)
	}{
		{"first commit on an empty repository lands on the remote with its trailers", func(t *testing.T, rem testRemote) {
			r := openRepo(t, rem.Options)
			head, err := r.Head("main")
			require.NoError(t, err)
			require.True(t, head.IsZero(), "an empty repository has no main")

			rev, changed, err := r.Publish(ctx, "main", 3, constTree(sampleTree("c1", "c2"), bindMessage("c1", "pg")))
			require.NoError(t, err)
			assert.True(t, changed)
			assert.Equal(t, "main", rev.Branch)
			assert.Equal(t, rev.Hash.String(), gitCLI(t, rem.Bare, "rev-parse", "main"))
			assert.Equal(t, "name: bindsync-c2", gitCLI(t, rem.Bare, "show", "main:clusters/c2/control-plane/namespace.yaml"))
			assert.Equal(t, "Bindsync-Cluster: c1\nBindsync-Request: bindsync-c1/pg\nBindsync-Template: postgresql\nBindsync-Cause: request",
				gitCLI(t, rem.Bare, "log", "-1", "--format=%(trailers)", "main"))
			assert.Equal(t, "bindsync-c1/pg", gitCLI(t, rem.Bare, "log", "-1", "--format=%(trailers:key=Bindsync-Request,valueonly)", "main"))
			assert.Equal(t, "bind: c1 <- postgresql", gitCLI(t, rem.Bare, "log", "-1", "--format=%s", "main"))
			gitCLI(t, rem.Bare, "fsck", "--strict")
		}},
		{"a commit that changes nothing writes no object and pushes nothing", func(t *testing.T, rem testRemote) {
			r := openRepo(t, rem.Options)
			first, _, err := r.Publish(ctx, "main", 3, constTree(sampleTree("c1"), bindMessage("c1", "pg")))
			require.NoError(t, err)
			localBefore, remoteBefore, statsBefore := countObjects(t, r.Dir()), countObjects(t, rem.Bare), r.Stats()

			rev, changed, err := r.Publish(ctx, "main", 3, constTree(sampleTree("c1"), bindMessage("c1", "again")))
			require.NoError(t, err)
			assert.False(t, changed)
			assert.Equal(t, first, rev, "the head stays")
			assert.Equal(t, localBefore, countObjects(t, r.Dir()), "no object written locally")
			assert.Equal(t, remoteBefore, countObjects(t, rem.Bare), "no object pushed")
			after := r.Stats()
			assert.Equal(t, statsBefore.Fetches, after.Fetches, "nothing moved: the fetch transferred nothing")
			assert.Equal(t, statsBefore.ObjectsWritten, after.ObjectsWritten)
			assert.Equal(t, statsBefore.Pushes, after.Pushes)
			assert.Equal(t, first.Hash.String(), gitCLI(t, rem.Bare, "rev-parse", "main"))
		}},
		{"a second commit writes only the changed blob and the trees above it", func(t *testing.T, rem testRemote) {
			r := openRepo(t, rem.Options)
			tree := sampleTree("c1", "c2", "c3")
			first, _, err := r.Publish(ctx, "main", 3, constTree(tree, bindMessage("c1", "pg")))
			require.NoError(t, err)
			before := r.Stats().ObjectsWritten

			second, changed, err := r.Publish(ctx, "main", 3, constTree(with(tree, "clusters/c2/control-plane/namespace.yaml", "name: changed\n"), bindMessage("c2", "pg")))
			require.NoError(t, err)
			require.True(t, changed)
			// blob + control-plane, c2, clusters, root trees + the commit
			assert.Equal(t, int64(6), r.Stats().ObjectsWritten-before)
			newObjects := strings.Fields(gitCLI(t, rem.Bare, "rev-list", "--objects", second.Hash.String(), "^"+first.Hash.String()))
			assert.Len(t, newObjects, 6+4, "rev-list lists 6 objects, 4 of them with a path") // hashes and paths interleave
		}},
		{"another writer pushes between fetch and push: Publish rebuilds and both changes survive", func(t *testing.T, rem testRemote) {
			r := openRepo(t, rem.Options)
			_, _, err := r.Publish(ctx, "main", 3, constTree(sampleTree("c1"), bindMessage("c1", "pg")))
			require.NoError(t, err)
			clone := cloneCLI(t, rem.CLIURL)

			var heads []plumbing.Hash
			rev, changed, err := r.Publish(ctx, "main", 3, func(head plumbing.Hash) (staterepo.Tree, staterepo.Message, error) {
				heads = append(heads, head)
				if len(heads) == 1 { // the race: someone pushes after our fetch
					require.NoError(t, os.WriteFile(filepath.Join(clone, "NOTES.md"), []byte("by hand\n"), 0o644))
					gitCLI(t, clone, "add", "NOTES.md")
					gitCLI(t, clone, "commit", "-q", "-m", "notes: by hand")
					gitCLI(t, clone, "push", "-q", "origin", "main")
				}
				tree, err := r.Tree(head)
				if err != nil {
					return nil, staterepo.Message{}, err
				}
				for p, b := range sampleTree("c1", "c2") {
					tree[p] = b
				}
				return tree, bindMessage("c2", "pg"), nil
			})
			require.NoError(t, err)
			require.True(t, changed)
			require.Len(t, heads, 2, "built once, rejected, built again on the new head")
			assert.Equal(t, int64(1), r.Stats().PushRetries)
			assert.Equal(t, rev.Hash.String(), gitCLI(t, rem.Bare, "rev-parse", "main"))
			assert.Equal(t, "by hand", gitCLI(t, rem.Bare, "show", "main:NOTES.md"))
			assert.Equal(t, "name: bindsync-c2", gitCLI(t, rem.Bare, "show", "main:clusters/c2/control-plane/namespace.yaml"))
			assert.Equal(t, "bind: c2 <- postgresql\nnotes: by hand\nbind: c1 <- postgresql", gitCLI(t, rem.Bare, "log", "--format=%s", "main"))
		}},
		{"Publish gives up with ErrNonFastForward after its attempts", func(t *testing.T, rem testRemote) {
			r := openRepo(t, rem.Options)
			_, _, err := r.Publish(ctx, "main", 3, constTree(sampleTree("c1"), bindMessage("c1", "pg")))
			require.NoError(t, err)
			clone := cloneCLI(t, rem.CLIURL)
			n := 0
			_, _, err = r.Publish(ctx, "main", 2, func(head plumbing.Hash) (staterepo.Tree, staterepo.Message, error) {
				n++
				require.NoError(t, os.WriteFile(filepath.Join(clone, "NOTES.md"), []byte(strings.Repeat("x", n)), 0o644))
				gitCLI(t, clone, "commit", "-qam", "race", "--allow-empty")
				gitCLI(t, clone, "add", "-A")
				gitCLI(t, clone, "commit", "-qm", "race again", "--allow-empty")
				gitCLI(t, clone, "push", "-q", "origin", "main")
				return sampleTree("c1", "c2"), bindMessage("c2", "pg"), nil
			})
			require.ErrorIs(t, err, ErrNonFastForward)
			assert.Equal(t, 2, n)
			assert.Contains(t, err.Error(), "gave up after 2 attempts")
		}},
		{"branches are created, updated, listed, deleted, and pruned when deleted on the remote", func(t *testing.T, rem testRemote) {
			r := openRepo(t, rem.Options)
			main, _, err := r.Publish(ctx, "main", 3, constTree(sampleTree("c1"), bindMessage("c1", "pg")))
			require.NoError(t, err)
			c1, _, err := r.Commit(main.Hash, sampleTree("c1", "c2"), bindMessage("c2", "pg"))
			require.NoError(t, err)
			c2, _, err := r.Commit(c1, sampleTree("c1", "c2", "c3"), bindMessage("c3", "pg"))
			require.NoError(t, err)

			require.NoError(t, r.Push(ctx, "bindsync/approve/c2/pg", plumbing.ZeroHash, c1))
			require.NoError(t, r.Push(ctx, "bindsync/approve/c3/pg", plumbing.ZeroHash, c1))
			err = r.Push(ctx, "bindsync/approve/c2/pg", plumbing.ZeroHash, c2)
			assert.ErrorIs(t, err, ErrNonFastForward, "creating a branch that exists is a lost race")
			require.NoError(t, r.Push(ctx, "bindsync/approve/c3/pg", c1, c2))
			assert.ErrorIs(t, r.Push(ctx, "bindsync/approve/c3/pg", c1, main.Hash), ErrNonFastForward, "the update expects the old head")

			branches, err := r.Branches("bindsync/")
			require.NoError(t, err)
			assert.Equal(t, map[string]plumbing.Hash{"bindsync/approve/c2/pg": c1, "bindsync/approve/c3/pg": c2}, branches)
			assert.Equal(t, c2.String(), gitCLI(t, rem.Bare, "rev-parse", "bindsync/approve/c3/pg"))

			require.NoError(t, r.Push(ctx, "bindsync/approve/c3/pg", c2, plumbing.ZeroHash))
			_, err = gitCLIErr(rem.Bare, "rev-parse", "--verify", "-q", "refs/heads/bindsync/approve/c3/pg")
			assert.Error(t, err, "deleted on the remote")

			// someone deletes the other branch on the remote (a rejection)
			gitCLI(t, rem.Bare, "update-ref", "-d", "refs/heads/bindsync/approve/c2/pg")
			require.NoError(t, r.Fetch(ctx))
			branches, err = r.Branches("bindsync/")
			require.NoError(t, err)
			assert.Empty(t, branches)
			head, err := r.Head("bindsync/approve/c2/pg")
			require.NoError(t, err)
			assert.True(t, head.IsZero())
			all, err := r.Branches("")
			require.NoError(t, err)
			assert.Equal(t, map[string]plumbing.Hash{"main": main.Hash}, all)
		}},
		{"FindTrailer finds requests merged with a merge commit, a squash and a rebase", func(t *testing.T, rem testRemote) {
			r := openRepo(t, rem.Options)
			base, _, err := r.Publish(ctx, "main", 3, constTree(sampleTree("c0"), bindMessage("c0", "pg")))
			require.NoError(t, err)
			for _, c := range []string{"merged", "squashed", "rebased"} {
				h, _, err := r.Commit(base.Hash, with(sampleTree("c0"), "clusters/"+c+"/app/kustomization.yaml", c), bindMessage(c, "pg"))
				require.NoError(t, err)
				require.NoError(t, r.Push(ctx, "bindsync/approve/"+c+"/pg", plumbing.ZeroHash, h))
			}
			clone := cloneCLI(t, rem.CLIURL)
			gitCLI(t, clone, "merge", "-q", "--no-ff", "-m", "Merge pull request #1", "origin/bindsync/approve/merged/pg")
			gitCLI(t, clone, "merge", "-q", "--squash", "origin/bindsync/approve/squashed/pg")
			gitCLI(t, clone, "commit", "-q", "--no-edit")
			gitCLI(t, clone, "checkout", "-q", "-b", "rebasing", "origin/bindsync/approve/rebased/pg")
			gitCLI(t, clone, "rebase", "-q", "main")
			gitCLI(t, clone, "checkout", "-q", "main")
			gitCLI(t, clone, "merge", "-q", "--ff-only", "rebasing")
			gitCLI(t, clone, "push", "-q", "origin", "main")

			require.NoError(t, r.Fetch(ctx))
			head, err := r.Head("main")
			require.NoError(t, err)
			require.Equal(t, gitCLI(t, clone, "rev-parse", "main"), head.String())
			for _, c := range []string{"merged", "squashed", "rebased", "c0"} {
				at, ok, err := r.FindTrailer(head, staterepo.TrailerRequest, "bindsync-"+c+"/pg", 50)
				require.NoError(t, err)
				assert.True(t, ok, "request of %s found in main", c)
				assert.False(t, at.IsZero())
			}
			_, ok, err := r.FindTrailer(head, staterepo.TrailerRequest, "bindsync-other/pg", 50)
			require.NoError(t, err)
			assert.False(t, ok, "a request never merged is not found")
			_, ok, err = r.FindTrailer(head, staterepo.TrailerRequest, "bindsync-c0/pg", 2)
			require.NoError(t, err)
			assert.False(t, ok, "the limit bounds the walk")
		}},
		{"reopening the folder after a restart keeps the state and commits nothing new", func(t *testing.T, rem testRemote) {
			r := openRepo(t, rem.Options)
			rev, _, err := r.Publish(ctx, "main", 3, constTree(sampleTree("c1"), bindMessage("c1", "pg")))
			require.NoError(t, err)
			require.NoError(t, r.Push(ctx, "bindsync/approve/c1/x", plumbing.ZeroHash, rev.Hash))

			again := openRepo(t, rem.Options)
			head, err := again.Head("main")
			require.NoError(t, err)
			assert.Equal(t, rev.Hash, head, "known before any fetch")
			same, changed, err := again.Publish(ctx, "main", 3, constTree(sampleTree("c1"), bindMessage("c1", "pg")))
			require.NoError(t, err)
			assert.False(t, changed)
			assert.Equal(t, rev, same)
			assert.Equal(t, int64(0), again.Stats().ObjectsWritten)
			tree, err := again.Tree(head)
			require.NoError(t, err)
			assert.Equal(t, sampleTree("c1"), tree)
			branches, err := again.Branches("bindsync/")
			require.NoError(t, err)
			assert.Len(t, branches, 1)
		}},
		{"an unreachable remote is a clear error naming it, and nothing is lost locally", func(t *testing.T, rem testRemote) {
			r := openRepo(t, rem.Options)
			first, _, err := r.Publish(ctx, "main", 3, constTree(sampleTree("c1"), bindMessage("c1", "pg")))
			require.NoError(t, err)
			if rem.Break == nil {
				assert.Empty(t, r.URL(), "only a repository without a remote cannot lose it")
				return
			}
			rem.Break()
			_, _, err = r.Publish(ctx, "main", 3, constTree(sampleTree("c1", "c2"), bindMessage("c2", "pg")))
			require.Error(t, err)
			t.Logf("remote gone: %v", err)
			assert.ErrorIs(t, err, ErrRemote)
			assert.Contains(t, err.Error(), rem.Options.URL)
			head, err := r.Head("main")
			require.NoError(t, err)
			assert.Equal(t, first.Hash, head, "the cache keeps what it had")

			rem.Restore()
			rev, changed, err := r.Publish(ctx, "main", 3, constTree(sampleTree("c1", "c2"), bindMessage("c2", "pg")))
			require.NoError(t, err)
			assert.True(t, changed)
			assert.Equal(t, rev.Hash.String(), gitCLI(t, rem.Bare, "rev-parse", "main"))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newRemote(t)) })
	}
}

func TestHTTPWrongPasswordIsAClearError(t *testing.T) {
	rem := httpRemote(t)
	bad := filepath.Join(t.TempDir(), "bad-password")
	require.NoError(t, os.WriteFile(bad, []byte("wrong"), 0o600))
	rem.Options.Auth.PasswordFile = bad
	r := openRepo(t, rem.Options)
	err := r.Fetch(context.Background())
	require.Error(t, err)
	t.Logf("wrong password: %v", err)
	assert.ErrorIs(t, err, ErrRemote)
	assert.Contains(t, err.Error(), rem.Options.URL)
	assert.Contains(t, err.Error(), "authentication required")

	_, _, err = r.Publish(context.Background(), "main", 3, constTree(sampleTree("c1"), bindMessage("c1", "pg")))
	assert.True(t, errors.Is(err, ErrRemote), "publish fails the same way: %v", err)
}

func TestHTTPBearerToken(t *testing.T) {
	rem := httpRemote(t)
	tok := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tok, []byte(httpToken+"\n"), 0o600))
	rem.Options.Auth = Auth{BearerTokenFile: tok}
	r := openRepo(t, rem.Options)
	rev, changed, err := r.Publish(context.Background(), "main", 3, constTree(sampleTree("c1"), bindMessage("c1", "pg")))
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, rev.Hash.String(), gitCLI(t, rem.Bare, "rev-parse", "main"))
}

func TestFetchTransfersOnlyWhenBranchesMoved(t *testing.T) {
	ctx := context.Background()
	rem := fileRemote(t)
	r := openRepo(t, rem.Options)
	_, _, err := r.Publish(ctx, "main", 3, constTree(sampleTree("c1"), bindMessage("c1", "pg")))
	require.NoError(t, err)
	require.NoError(t, r.Fetch(ctx))
	assert.Equal(t, int64(0), r.Stats().Fetches, "our own push is already here")

	clone := cloneCLI(t, rem.CLIURL)
	gitCLI(t, clone, "commit", "-q", "--allow-empty", "-m", "elsewhere")
	gitCLI(t, clone, "push", "-q", "origin", "main")
	require.NoError(t, r.Fetch(ctx))
	assert.Equal(t, int64(1), r.Stats().Fetches, "a moved branch is fetched")
	head, err := r.Head("main")
	require.NoError(t, err)
	assert.Equal(t, gitCLI(t, clone, "rev-parse", "main"), head.String())
	require.NoError(t, r.Fetch(ctx))
	assert.Equal(t, int64(1), r.Stats().Fetches, "and not again")
}
