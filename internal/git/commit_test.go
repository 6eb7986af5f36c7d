package git

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/staterepo"
)

func newLocal(t *testing.T) *Repo {
	t.Helper()
	return openRepo(t, Options{Dir: filepath.Join(t.TempDir(), "state.git")})
}

func TestCommitOfAnUnchangedTreeWritesNoObject(t *testing.T) {
	r := newLocal(t)
	first, changed, err := r.Commit(plumbing.ZeroHash, sampleTree("c1", "c2"), bindMessage("c1", "pg"))
	require.NoError(t, err)
	require.True(t, changed)
	before, written := countObjects(t, r.Dir()), r.Stats().ObjectsWritten

	// a fresh render: equal content in new slices
	again, changed, err := r.Commit(first, sampleTree("c1", "c2"), bindMessage("c1", "pg"))
	require.NoError(t, err)
	assert.False(t, changed)
	assert.Equal(t, first, again)
	assert.Equal(t, before, countObjects(t, r.Dir()))
	assert.Equal(t, written, r.Stats().ObjectsWritten)
}

func TestCommitOfAnEmptyTreeOnNothingIsNoCommit(t *testing.T) {
	r := newLocal(t)
	h, changed, err := r.Commit(plumbing.ZeroHash, staterepo.Tree{}, staterepo.Message{Subject: "nothing"})
	require.NoError(t, err)
	assert.False(t, changed)
	assert.True(t, h.IsZero())
	assert.Equal(t, 0, countObjects(t, r.Dir()))
}

func TestCommitHashesEachSharedSliceOnceAndStoresItOnce(t *testing.T) {
	r := newLocal(t)
	shared := []byte("the same snapshot\n")
	tree := staterepo.Tree{}
	for _, c := range []string{"a", "b", "c", "d"} {
		tree["clusters/"+c+"/crd.yaml"] = shared
	}
	b := newBuilder()
	_, err := b.build(tree, "")
	require.NoError(t, err)
	assert.Len(t, b.blobs, 1, "one slice, hashed once")

	_, _, err = r.Commit(plumbing.ZeroHash, tree, staterepo.Message{Subject: "shared"})
	require.NoError(t, err)
	// one blob, one tree shared by the four cluster folders, clusters, root, commit
	assert.Equal(t, int64(5), r.Stats().ObjectsWritten)
	assert.Equal(t, 5, countObjects(t, r.Dir()))
}

func TestCommitMatchesGitsOwnTree(t *testing.T) {
	// names that sort differently as strings and as git tree entries
	tree := staterepo.Tree{
		"a-b":       []byte("1"),
		"a/c":       []byte("2"),
		"a.txt":     []byte("3"),
		"a0":        []byte("4"),
		"b/x/y/z.y": []byte("5"),
		"b/x.yaml":  []byte("6"),
		"ab/c":      []byte("7"),
	}
	r := newLocal(t)
	h, _, err := r.Commit(plumbing.ZeroHash, tree, staterepo.Message{Subject: "order"})
	require.NoError(t, err)
	gitCLI(t, r.Dir(), "fsck", "--strict")
	assert.Equal(t, "a-b\na.txt\na/c\na0\nab/c\nb/x.yaml\nb/x/y/z.y", gitCLI(t, r.Dir(), "ls-tree", "-r", "--name-only", h.String()))
	got, err := r.Tree(h)
	require.NoError(t, err)
	assert.Equal(t, tree, got)
}

func TestCommitRefusesPathsGitCannotStore(t *testing.T) {
	for name, p := range map[string]string{
		"absolute":        "/etc/passwd",
		"parent segment":  "clusters/../x",
		"dot segment":     "clusters/./x",
		"empty segment":   "clusters//x",
		"trailing slash":  "clusters/",
		"a .git folder":   "clusters/.git/config",
		"file and folder": "clusters/c1",
	} {
		t.Run(name, func(t *testing.T) {
			r := newLocal(t)
			tree := staterepo.Tree{p: []byte("x"), "clusters/c1/app/x.yaml": []byte("y")}
			_, _, err := r.Commit(plumbing.ZeroHash, tree, staterepo.Message{Subject: "bad"})
			assert.ErrorIs(t, err, ErrInvalidPath)
			assert.Equal(t, 0, countObjects(t, r.Dir()), "nothing written")
		})
	}
}

func TestCommitDirsReplacesOnlyTheGivenFolders(t *testing.T) {
	r := newLocal(t)
	base, _, err := r.Commit(plumbing.ZeroHash, sampleTree("c1", "c2", "c3"), bindMessage("c1", "pg"))
	require.NoError(t, err)

	cases := []struct {
		name  string
		dirs  []string
		files staterepo.Tree
		want  staterepo.Tree
	}{
		{"add a cluster", []string{"clusters/c4"}, sub(sampleTree("c4"), "clusters/c4"), sampleTree("c1", "c2", "c3", "c4")},
		{"remove a cluster", []string{"clusters/c2"}, staterepo.Tree{}, sampleTree("c1", "c3")},
		{"replace one cluster's folder", []string{"clusters/c3/control-plane"},
			staterepo.Tree{"clusters/c3/control-plane/other.yaml": []byte("x\n")},
			without(with(sampleTree("c1", "c2", "c3"), "clusters/c3/control-plane/other.yaml", "x\n"), "clusters/c3/control-plane/namespace.yaml")},
		{"a new folder in a new folder", []string{"extra/deep/dir"}, staterepo.Tree{"extra/deep/dir/f": []byte("f")}, with(sampleTree("c1", "c2", "c3"), "extra/deep/dir/f", "f")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, changed, err := r.CommitDirs(base, tc.dirs, tc.files, staterepo.Message{Subject: tc.name})
			require.NoError(t, err)
			require.True(t, changed)
			got, err := r.Tree(h)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			full, _, err := r.Commit(base, tc.want, staterepo.Message{Subject: tc.name})
			require.NoError(t, err)
			assert.Equal(t, treeOf(t, r, full), treeOf(t, r, h), "the same tree as a full commit")
		})
	}
	t.Run("the same files again is no commit", func(t *testing.T) {
		h, changed, err := r.CommitDirs(base, []string{"clusters/c2"}, sub(sampleTree("c2"), "clusters/c2"), staterepo.Message{Subject: "same"})
		require.NoError(t, err)
		assert.False(t, changed)
		assert.Equal(t, base, h)
	})
	t.Run("a file outside the folders is refused", func(t *testing.T) {
		_, _, err := r.CommitDirs(base, []string{"clusters/c2"}, staterepo.Tree{"clusters/c1/x": []byte("x")}, staterepo.Message{Subject: "bad"})
		assert.ErrorIs(t, err, ErrInvalidPath)
	})
}

func TestChangedDirsComparesSubtreeHashes(t *testing.T) {
	r := newLocal(t)
	a, _, err := r.Commit(plumbing.ZeroHash, sampleTree("c1", "c2", "c3"), bindMessage("c1", "pg"))
	require.NoError(t, err)
	b, _, err := r.Commit(a, with(sampleTree("c1", "c3", "c4"), "clusters/c3/app/x.yaml", "x"), bindMessage("c1", "pg"))
	require.NoError(t, err)

	cases := []struct {
		name     string
		old, new plumbing.Hash
		prefix   string
		want     []string
	}{
		{"changed, added and removed clusters", a, b, "clusters", []string{"clusters/c2", "clusters/c3", "clusters/c4"}},
		{"from nothing: every cluster", plumbing.ZeroHash, a, "clusters", []string{"clusters/c1", "clusters/c2", "clusters/c3"}},
		{"to nothing: every cluster", a, plumbing.ZeroHash, "clusters", []string{"clusters/c1", "clusters/c2", "clusters/c3"}},
		{"one level deeper", a, b, "clusters/c3", []string{"clusters/c3/app"}},
		{"the same commit", b, b, "clusters", nil},
		{"a prefix neither has", a, b, "nowhere", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.ChangedDirs(tc.old, tc.new, tc.prefix)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestFilesReadsACommitLazily(t *testing.T) {
	r := newLocal(t)
	h, _, err := r.Commit(plumbing.ZeroHash, sampleTree("c1", "c2"), bindMessage("c1", "pg"))
	require.NoError(t, err)
	set, err := r.Files(h, isYAML)
	require.NoError(t, err)
	assert.Len(t, set.Paths, 7, "six cluster files and the marker")
	assert.Equal(t, set.Paths["clusters/c1/app/crds/postgresqlinstances.anynines.com.yaml"], set.Paths["clusters/c2/app/crds/postgresqlinstances.anynines.com.yaml"])
	b, ok, err := set.Content("clusters/c2/control-plane/namespace.yaml")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "name: bindsync-c2\n", string(b))
	// the existing reader works on the repository bindsync writes
	files, err := ReadFilesAt(r.Dir(), h.String(), nil)
	require.NoError(t, err)
	assert.Len(t, files, 8)
}

func TestLocalPushIsACompareAndSwap(t *testing.T) {
	r := newLocal(t)
	ctx := context.Background()
	a, _, err := r.Commit(plumbing.ZeroHash, sampleTree("c1"), bindMessage("c1", "pg"))
	require.NoError(t, err)
	b, _, err := r.Commit(a, sampleTree("c1", "c2"), bindMessage("c2", "pg"))
	require.NoError(t, err)
	require.NoError(t, r.Push(ctx, "main", plumbing.ZeroHash, a))
	assert.ErrorIs(t, r.Push(ctx, "main", plumbing.ZeroHash, b), ErrNonFastForward)
	require.NoError(t, r.Push(ctx, "main", a, b))
	assert.ErrorIs(t, r.Push(ctx, "main", a, plumbing.ZeroHash), ErrNonFastForward, "a delete expects the head too")
	assert.Equal(t, b.String(), gitCLI(t, r.Dir(), "rev-parse", "main"))
	assert.Equal(t, "refs/heads/main", gitCLI(t, r.Dir(), "symbolic-ref", "HEAD"), "a clone checks out main")
}

func treeOf(t *testing.T, r *Repo, commit plumbing.Hash) plumbing.Hash {
	t.Helper()
	c, err := r.commitObject(commit)
	require.NoError(t, err)
	return c.TreeHash
}

func sub(t staterepo.Tree, dir string) staterepo.Tree {
	out := staterepo.Tree{}
	for p, b := range t {
		if len(p) > len(dir) && p[:len(dir)+1] == dir+"/" {
			out[p] = b
		}
	}
	return out
}

func without(t staterepo.Tree, p string) staterepo.Tree {
	delete(t, p)
	return t
}

// Loose objects are written as git writes them: whole (git reads each one
// back), read-only, and no temporary file is left beside them.
func TestLooseObjectsAreWholeReadOnlyAndAlone(t *testing.T) {
	r := newLocal(t)
	first, _, err := r.Commit(plumbing.ZeroHash, sampleTree("c1", "c2"), bindMessage("c1", "pg"))
	require.NoError(t, err)
	second, changed, err := r.Commit(first, with(sampleTree("c1", "c2"), "clusters/c2/extra.yaml", "x: 1\n"), bindMessage("c2", "pg"))
	require.NoError(t, err)
	require.True(t, changed)
	require.Positive(t, r.Stats().ObjectsWritten)

	loose, err := filepath.Glob(filepath.Join(r.Dir(), "objects", "??", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, loose, "a small commit writes loose objects")
	for _, p := range loose {
		name := filepath.Base(filepath.Dir(p)) + filepath.Base(p)
		assert.Len(t, name, 40, "%s is an object, not a temporary file", p)
		fi, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o444), fi.Mode().Perm(), "%s is read-only", p)
		assert.Equal(t, "", gitCLI(t, r.Dir(), "cat-file", "-e", name), "git reads %s", name)
	}
	assert.Contains(t, gitCLI(t, r.Dir(), "cat-file", "-p", second.String()), "bind: c2")
}
