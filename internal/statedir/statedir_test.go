package statedir_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/statedir"
	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

func TestWriteOwnsOnlyTheRenderedPaths(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".git"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".git", "HEAD"), []byte("ref: refs/heads/main\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "CODEOWNERS"), []byte("* @platform\n"), 0o644))

	first := render.Tree{
		"README.md":                         []byte("readme\n"),
		"clusters/a/app/kustomization.yaml": []byte("a\n"),
		"clusters/b/app/kustomization.yaml": []byte("b\n"),
	}
	c, err := statedir.Write(first, dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"README.md", "clusters/a/app/kustomization.yaml", "clusters/b/app/kustomization.yaml"}, c.Added)

	second := render.Tree{
		"README.md":                         []byte("readme\n"),
		"clusters/a/app/kustomization.yaml": []byte("a2\n"),
	}
	c, err = statedir.Write(second, dir)
	require.NoError(t, err)
	assert.Equal(t, statedir.Changes{Changed: []string{"clusters/a/app/kustomization.yaml"}, Removed: []string{"clusters/b/app/kustomization.yaml"}}, c)

	_, err = os.Stat(filepath.Join(dir, "clusters", "b"))
	assert.True(t, os.IsNotExist(err), "a removed cluster leaves no empty folder behind")
	for _, keep := range []string{".git/HEAD", "CODEOWNERS"} {
		_, err := os.Stat(filepath.Join(dir, keep))
		assert.NoError(t, err, "%s is not bindsync's and stays", keep)
	}
	got, err := statedir.Read(dir)
	require.NoError(t, err)
	assert.True(t, statedir.Diff(second, got).Empty())

	c, err = statedir.Write(second, dir)
	require.NoError(t, err)
	assert.True(t, c.Empty(), "writing the same tree again changes nothing")
}

func TestWriteRefusesPathsOutsideTheFolder(t *testing.T) {
	_, err := statedir.Write(render.Tree{"clusters/../../escape.yaml": []byte("x")}, t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "escape.yaml")
}

func TestReadOfAMissingFolderIsAnEmptyTree(t *testing.T) {
	tree, err := statedir.Read(filepath.Join(t.TempDir(), "nothing"))
	require.NoError(t, err)
	assert.Empty(t, tree)
}

func TestSymlinksAreNeverWrittenThrough(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "outside.txt")
	require.NoError(t, os.WriteFile(outside, []byte("not bindsync's\n"), 0o644))
	outsideDir := t.TempDir()

	cases := map[string]func(dir string){
		"a file": func(dir string) {
			require.NoError(t, os.Symlink(outside, filepath.Join(dir, "clusters/a/app/kustomization.yaml")))
		},
		"a folder":  func(dir string) { require.NoError(t, os.Symlink(outsideDir, filepath.Join(dir, "clusters/a/app"))) },
		"README.md": func(dir string) { require.NoError(t, os.Symlink(outside, filepath.Join(dir, "README.md"))) },
	}
	for name, link := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "clusters/a"), 0o755))
			if name == "a file" {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, "clusters/a/app"), 0o755))
			}
			link(dir)
			_, err := statedir.Write(render.Tree{
				"README.md":                         []byte("readme\n"),
				"clusters/a/app/kustomization.yaml": []byte("a\n"),
			}, dir)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "symlink")
			b, err := os.ReadFile(outside)
			require.NoError(t, err)
			assert.Equal(t, "not bindsync's\n", string(b))
			entries, err := os.ReadDir(outsideDir)
			require.NoError(t, err)
			assert.Empty(t, entries)
		})
	}
}
