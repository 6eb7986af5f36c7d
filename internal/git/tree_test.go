package git

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

// commitFiles writes files (path -> content; nil content deletes) into the
// worktree of the repository at dir and commits them. It returns the commit
// hash.
func commitFiles(t *testing.T, dir string, files map[string][]byte, msg string) string {
	t.Helper()
	repo, err := gogit.PlainOpen(dir)
	require.NoError(t, err)
	wt, err := repo.Worktree()
	require.NoError(t, err)
	for path, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(path))
		if content == nil {
			_, err := wt.Remove(path)
			require.NoError(t, err)
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, content, 0o644))
		_, err := wt.Add(path)
		require.NoError(t, err)
	}
	sig := &object.Signature{Name: "bindsync test", Email: "test@bindsync.invalid", When: time.Unix(1700000000, 0)}
	h, err := wt.Commit(msg, &gogit.CommitOptions{Author: sig, Committer: sig})
	require.NoError(t, err)
	return h.String()
}

func newRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	_, err := gogit.PlainInit(dir, false)
	require.NoError(t, err)
	return dir
}

func isYAML(path string) bool { return strings.HasSuffix(path, ".yaml") }

func TestReadFilesAtReadsEachRevision(t *testing.T) {
	dir := newRepo(t)
	first := commitFiles(t, dir, map[string][]byte{
		"clusters/c1/app/crds/a.yaml":  []byte("a: 1\n"),
		"clusters/c2/app/crds/a.yaml":  []byte("a: 1\n"),
		"clusters/c1/app/README.md":    []byte("readme\n"),
		"clusters/c1/app/removed.yaml": []byte("gone: soon\n"),
	}, "first")
	second := commitFiles(t, dir, map[string][]byte{
		"clusters/c1/app/crds/a.yaml":  []byte("a: 2\n"),
		"clusters/c1/app/removed.yaml": nil,
	}, "second")

	old, err := ReadFilesAt(dir, first, isYAML)
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{
		"clusters/c1/app/crds/a.yaml":  []byte("a: 1\n"),
		"clusters/c2/app/crds/a.yaml":  []byte("a: 1\n"),
		"clusters/c1/app/removed.yaml": []byte("gone: soon\n"),
	}, old)

	for _, rev := range []string{second, "HEAD", "master", second[:12]} {
		cur, err := ReadFilesAt(dir, rev, isYAML)
		require.NoError(t, err, rev)
		assert.Equal(t, map[string][]byte{
			"clusters/c1/app/crds/a.yaml": []byte("a: 2\n"),
			"clusters/c2/app/crds/a.yaml": []byte("a: 1\n"),
		}, cur, rev)
	}

	prev, err := ReadFilesAt(dir, "HEAD~1", nil)
	require.NoError(t, err)
	assert.Len(t, prev, 4, "a nil match selects every file")
}

func TestReadFileSetAtSharesIdenticalBlobs(t *testing.T) {
	dir := newRepo(t)
	files := map[string][]byte{}
	for _, c := range []string{"c1", "c2", "c3", "c4"} {
		files["clusters/"+c+"/app/crds/pg.yaml"] = []byte("kind: CustomResourceDefinition\n")
	}
	head := commitFiles(t, dir, files, "bind four clusters")

	set, err := ReadFileSetAt(dir, "HEAD", isYAML)
	require.NoError(t, err)
	assert.Equal(t, head, set.Commit)
	require.Len(t, set.Paths, 4)
	ids := map[string]bool{}
	for _, id := range set.Paths {
		ids[id] = true
	}
	require.Len(t, ids, 1, "one blob for four paths")
	for id := range ids {
		b, err := set.Blob(id)
		require.NoError(t, err)
		assert.Equal(t, "kind: CustomResourceDefinition\n", string(b))
	}
	content, ok, err := set.Content("clusters/c3/app/crds/pg.yaml")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "kind: CustomResourceDefinition\n", string(content))
	_, ok, err = set.Content("clusters/c9/app/crds/pg.yaml")
	require.NoError(t, err)
	assert.False(t, ok)

	_, err = set.Blob("0123456789012345678901234567890123456789")
	require.Error(t, err)
	assert.Contains(t, err.Error(), dir, "a missing blob names the repository")
}

func TestReadFilesAtErrorsNameRepositoryAndRevision(t *testing.T) {
	dir := newRepo(t)
	commitFiles(t, dir, map[string][]byte{"a.yaml": []byte("a: 1\n")}, "first")

	_, err := ReadFilesAt(dir, "no-such-branch", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), dir)
	assert.Contains(t, err.Error(), `"no-such-branch"`)

	notRepo := t.TempDir()
	_, err = ReadFilesAt(notRepo, "HEAD", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), notRepo)
}

func TestReadFilesAtFindsTheRepositoryFromASubdirectory(t *testing.T) {
	dir := newRepo(t)
	commitFiles(t, dir, map[string][]byte{"sub/a.yaml": []byte("a: 1\n")}, "first")
	files, err := ReadFilesAt(filepath.Join(dir, "sub"), "HEAD", nil)
	require.NoError(t, err)
	assert.Equal(t, map[string][]byte{"sub/a.yaml": []byte("a: 1\n")}, files)
}

func TestReadFilesAtReadsABareRepository(t *testing.T) {
	work := newRepo(t)
	head := commitFiles(t, work, map[string][]byte{"clusters/c1/app/kustomization.yaml": []byte("kind: Kustomization\n")}, "first")
	bare := t.TempDir()
	_, err := gogit.PlainClone(bare, true, &gogit.CloneOptions{URL: work})
	require.NoError(t, err)

	set, err := ReadFileSetAt(bare, "master", nil)
	require.NoError(t, err)
	assert.Equal(t, head, set.Commit)
	assert.Len(t, set.Paths, 1)
}
