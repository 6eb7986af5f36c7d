package git

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/staterepo"
)

// packedTree is a tree large enough that Commit writes it as a pack.
func packedTree(tag string) staterepo.Tree {
	var clusters []string
	for i := 0; i < 40; i++ {
		clusters = append(clusters, fmt.Sprintf("%s%02d", tag, i))
	}
	return sampleTree(clusters...)
}

// packFiles lists objects/pack/pack-* of dir by extension.
func packFiles(t *testing.T, dir, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "objects", "pack", "pack-*"+ext))
	require.NoError(t, err)
	return m
}

// TestACrashBetweenPackAndIndexNeverBricksTheRepository simulates a kill of
// the process while a commit publishes its pack, in both orders a writer
// can leave objects/pack in, then reopens the repository (a restart) and
// uses it: every object stays readable, a new commit of the same tree is
// whole, and git fsck agrees.
func TestACrashBetweenPackAndIndexNeverBricksTheRepository(t *testing.T) {
	t.Run("a pack without its index (an older writer, killed between the renames) is indexed again on open, nothing lost", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state.git")
		r := openRepo(t, Options{Dir: dir})
		tree := packedTree("a")
		c, changed, err := r.Commit(plumbing.ZeroHash, tree, staterepo.Message{Subject: "first"})
		require.NoError(t, err)
		require.True(t, changed)
		require.NoError(t, r.Push(context.Background(), "main", plumbing.ZeroHash, c))
		idx := packFiles(t, dir, ".idx")
		require.Len(t, idx, 1, "the commit was written as one pack")
		require.NoError(t, os.Remove(idx[0])) // the kill: the pack is in place, its index is not

		r = openRepo(t, Options{Dir: dir})
		got, err := r.Tree(c)
		require.NoError(t, err, "every object of the pack is readable after a restart")
		assert.True(t, equalTrees(tree, got))
		next, changed, err := r.Commit(c, with(tree, "clusters/a00/extra.yaml", "x: 1\n"), staterepo.Message{Subject: "second"})
		require.NoError(t, err)
		require.True(t, changed)
		require.NoError(t, r.Push(context.Background(), "main", c, next))
		gitCLI(t, dir, "fsck", "--strict", "--no-dangling")
		assert.Len(t, packFiles(t, dir, ".idx"), 1, "the index was written again")
	})

	t.Run("an index without its pack (killed between the renames) is removed on open and its objects are written again", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state.git")
		r := openRepo(t, Options{Dir: dir})
		base, changed, err := r.Commit(plumbing.ZeroHash, sampleTree("base"), staterepo.Message{Subject: "base"})
		require.NoError(t, err)
		require.True(t, changed)
		require.NoError(t, r.Push(context.Background(), "main", plumbing.ZeroHash, base))
		tree := packedTree("b")
		_, _, err = r.Commit(base, tree, staterepo.Message{Subject: "never published"})
		require.NoError(t, err)
		packs := packFiles(t, dir, ".pack")
		require.Len(t, packs, 1)
		require.NoError(t, os.Remove(packs[0])) // the kill: the index is in place, the pack is not

		r = openRepo(t, Options{Dir: dir})
		assert.Empty(t, packFiles(t, dir, ".idx"), "the orphaned index is gone")
		c, changed, err := r.Commit(base, tree, staterepo.Message{Subject: "again"})
		require.NoError(t, err)
		require.True(t, changed)
		require.NoError(t, r.Push(context.Background(), "main", base, c))
		got, err := r.Tree(c)
		require.NoError(t, err, "every object was written again, none skipped for the orphaned index")
		assert.True(t, equalTrees(tree, got))
		gitCLI(t, dir, "fsck", "--strict", "--no-dangling")
	})

	t.Run("an index without its pack appearing while the repository is open is not trusted", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state.git")
		r := openRepo(t, Options{Dir: dir})
		other := openRepo(t, Options{Dir: filepath.Join(t.TempDir(), "other.git")})
		tree := packedTree("c")
		_, _, err := other.Commit(plumbing.ZeroHash, tree, staterepo.Message{Subject: "elsewhere"})
		require.NoError(t, err)
		// another writer of dir published only the index of a pack holding tree's objects
		idx := packFiles(t, other.Dir(), ".idx")
		require.Len(t, idx, 1)
		b, err := os.ReadFile(idx[0])
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "objects", "pack"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "objects", "pack", filepath.Base(idx[0])), b, 0o444))

		c, changed, err := r.Commit(plumbing.ZeroHash, tree, staterepo.Message{Subject: "here"})
		require.NoError(t, err)
		require.True(t, changed)
		got, err := r.Tree(c)
		require.NoError(t, err)
		assert.True(t, equalTrees(tree, got))
	})
}

func equalTrees(a, b staterepo.Tree) bool {
	if len(a) != len(b) {
		return false
	}
	for p, x := range a {
		if y, ok := b[p]; !ok || string(x) != string(y) {
			return false
		}
	}
	return true
}
