package statedir_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/statedir"
	"github.com/bindsync/bindsync/internal/staterepo"
	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

// tree returns a rendered-looking tree: the marker plus files.
func tree(files map[string]string) staterepo.Tree {
	t := staterepo.Tree{staterepo.MarkerPath: staterepo.Marker()}
	for p, b := range files {
		t[p] = []byte(b)
	}
	return t
}

func TestWriteOwnsOnlyTheRenderedPaths(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".git"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".git", "HEAD"), []byte("ref: refs/heads/main\n"), 0o644))

	first := tree(map[string]string{
		"README.md":                         "readme\n",
		"clusters/a/app/kustomization.yaml": "a\n",
		"clusters/b/app/kustomization.yaml": "b\n",
	})
	c, err := statedir.Write(first, dir)
	require.NoError(t, err)
	assert.Equal(t, []string{staterepo.MarkerPath, "README.md", "clusters/a/app/kustomization.yaml", "clusters/b/app/kustomization.yaml"}, c.Added)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "CODEOWNERS"), []byte("* @platform\n"), 0o644))

	second := tree(map[string]string{
		"README.md":                         "readme\n",
		"clusters/a/app/kustomization.yaml": "a2\n",
	})
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

func TestWriteOnlyWritesAStateRepository(t *testing.T) {
	const fluxSystem = "clusters/production/flux-system/gotk-sync.yaml"
	rendered := tree(map[string]string{
		"README.md":                          "# bindsync state repository\n\nnew\n",
		"clusters/a/app/kustomization.yaml":  "a\n",
		"clusters/a/app/crds/widgets.x.yaml": "w\n",
	})
	for _, tc := range []struct {
		name  string
		files map[string]string // what the folder holds before; nil: the folder does not exist
		want  statedir.Ownership
		// err is part of the error Write returns; "" when it writes.
		err string
	}{{
		name: "a missing folder becomes a state repository",
		want: statedir.Unclaimed,
	}, {
		name:  "an empty folder becomes a state repository",
		files: map[string]string{},
		want:  statedir.Unclaimed,
	}, {
		name:  "a folder with nothing but .git becomes a state repository",
		files: map[string]string{".git/HEAD": "ref: refs/heads/main\n"},
		want:  statedir.Unclaimed,
	}, {
		name:  "a marked folder is a state repository",
		files: map[string]string{staterepo.MarkerPath: "format: 1\n", "clusters/old/app/kustomization.yaml": "old\n"},
		want:  statedir.Marked,
	}, {
		name:  "a folder with bindsync's README and no marker was written before markers existed",
		files: map[string]string{"README.md": "# bindsync state repository\n\nold\n", "clusters/old/app/kustomization.yaml": "old\n"},
		want:  statedir.Legacy,
	}, {
		name:  "a fleet repository is not bindsync's",
		files: map[string]string{"README.md": "# fleet\n", fluxSystem: "kind: Kustomization\n", ".git/HEAD": "x\n"},
		want:  statedir.Foreign,
		err:   "is not a bindsync state repository: it holds README.md, clusters/ and no " + staterepo.MarkerPath,
	}, {
		name:  "a folder with any other file is not bindsync's",
		files: map[string]string{"notes.txt": "mine\n"},
		want:  statedir.Foreign,
		err:   "it holds notes.txt and no",
	}, {
		name:  "a marker from a newer bindsync is refused",
		files: map[string]string{staterepo.MarkerPath: "format: 2\n"},
		want:  statedir.Foreign,
		err:   "written by a newer bindsync (format 2",
	}, {
		name:  "a marker that does not parse is refused",
		files: map[string]string{staterepo.MarkerPath: "format: [\n"},
		want:  statedir.Foreign,
		err:   "does not parse",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out")
			if tc.files != nil {
				require.NoError(t, os.MkdirAll(dir, 0o755))
			}
			for p, b := range tc.files {
				require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(b), 0o644))
			}
			own, _ := statedir.Inspect(dir)
			assert.Equal(t, tc.want, own)

			_, err := statedir.Write(rendered, dir)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				for p, b := range tc.files {
					got, err := os.ReadFile(filepath.Join(dir, p))
					require.NoError(t, err)
					assert.Equal(t, b, string(got), "%s is left alone", p)
				}
				_, err = os.Stat(filepath.Join(dir, staterepo.MarkerPath))
				if tc.files[staterepo.MarkerPath] == "" {
					assert.True(t, os.IsNotExist(err), "no marker is written")
				}
				return
			}
			require.NoError(t, err)
			got, err := statedir.Read(dir)
			require.NoError(t, err)
			assert.True(t, statedir.Diff(rendered, got).Empty(), "the folder holds the tree, marker included")
			own, err = statedir.Inspect(dir)
			require.NoError(t, err)
			assert.Equal(t, statedir.Marked, own, "after a write the folder is marked")
		})
	}
}

func TestAdoptMakesAFolderAStateRepositoryAndKeepsWhatIsNotBindsyncs(t *testing.T) {
	dir := t.TempDir()
	for p, b := range map[string]string{"LICENSE": "MIT\n", ".github/CODEOWNERS": "* @platform\n"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(b), 0o644))
	}
	rendered := tree(map[string]string{"README.md": "# bindsync state repository\n", "clusters/a/app/kustomization.yaml": "a\n"})
	_, err := statedir.Write(rendered, dir)
	var notOurs *statedir.NotStateRepoError
	require.ErrorAs(t, err, &notOurs)
	assert.Equal(t, []string{".github/", "LICENSE"}, notOurs.Found)

	c, err := statedir.Adopt(rendered, dir)
	require.NoError(t, err)
	assert.Equal(t, []string{staterepo.MarkerPath, "README.md", "clusters/a/app/kustomization.yaml"}, c.Added)
	for _, keep := range []string{"LICENSE", ".github/CODEOWNERS"} {
		_, err := os.Stat(filepath.Join(dir, keep))
		assert.NoError(t, err, "%s is not bindsync's and stays", keep)
	}
	_, err = statedir.Write(rendered, dir)
	assert.NoError(t, err, "once adopted, the folder is marked")
}

func TestAdoptNeverOverwritesAReadmeOrClustersBindsyncDidNotWrite(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"a README":       {"README.md": "# platform\n"},
		"a fleet layout": {"clusters/production/flux-system/gotk-sync.yaml": "kind: Kustomization\n", "LICENSE": "MIT\n"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for p, b := range files {
				require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(b), 0o644))
			}
			_, err := statedir.Adopt(tree(map[string]string{"README.md": "# bindsync state repository\n"}), dir)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "move them out of the way first")
			for p, b := range files {
				got, err := os.ReadFile(filepath.Join(dir, p))
				require.NoError(t, err)
				assert.Equal(t, b, string(got))
			}
			_, err = os.Stat(filepath.Join(dir, staterepo.MarkerPath))
			assert.True(t, os.IsNotExist(err), "no marker is written")
		})
	}
}

func TestWriteRefusesATreeWithoutTheMarker(t *testing.T) {
	dir := t.TempDir()
	_, err := statedir.Write(staterepo.Tree{"clusters/a/app/kustomization.yaml": []byte("a\n")}, dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has no "+staterepo.MarkerPath)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestWriteRefusesPathsOutsideTheFolder(t *testing.T) {
	_, err := statedir.Write(tree(map[string]string{"clusters/../../escape.yaml": "x"}), t.TempDir())
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
		"the marker": func(dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, staterepo.MarkerPath)))
			require.NoError(t, os.Symlink(outside, filepath.Join(dir, staterepo.MarkerPath)))
		},
	}
	for name, link := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(dir, "clusters/a"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, staterepo.MarkerPath), staterepo.Marker(), 0o644))
			if name == "a file" {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, "clusters/a/app"), 0o755))
			}
			link(dir)
			_, err := statedir.Write(tree(map[string]string{
				"README.md":                         "readme\n",
				"clusters/a/app/kustomization.yaml": "a\n",
			}), dir)
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
