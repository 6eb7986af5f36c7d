package agent

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// exampleFolders reads clusters/*/app of the committed example state
// repository into one MapFS, as the source holds a checkout.
func exampleFolders(t *testing.T) (fstest.MapFS, []string) {
	t.Helper()
	root := filepath.Join("..", "..", "examples", "state-repo")
	fsys := fstest.MapFS{}
	var dirs []string
	matches, err := filepath.Glob(filepath.Join(root, "clusters", "*", "app"))
	require.NoError(t, err)
	require.NotEmpty(t, matches)
	for _, m := range matches {
		rel, err := filepath.Rel(root, m)
		require.NoError(t, err)
		dirs = append(dirs, filepath.ToSlash(rel))
		require.NoError(t, filepath.WalkDir(m, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, p)
			fsys[filepath.ToSlash(rel)] = &fstest.MapFile{Data: data, Mode: 0o644}
			return err
		}))
	}
	return fsys, dirs
}

// thawed decodes a build kept by fileBuilds.
func thawed(t *testing.T, objs []frozen) []built {
	t.Helper()
	out, err := thawAll(objs)
	require.NoError(t, err)
	return out
}

// assertSameBuild checks that got has exactly the objects, order and files
// of want.
func assertSameBuild(t *testing.T, want, got []built) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		assert.Equal(t, want[i].obj.Object, got[i].obj.Object, "object %d", i)
		assert.Equal(t, want[i].file, got[i].file, "file of object %d", i)
	}
}

// TestFileBuildsEqualTheWholeBuild: the rendered folders, built file by file,
// give exactly the objects, order and files of kustomize's whole build.
func TestFileBuildsEqualTheWholeBuild(t *testing.T) {
	fsys, dirs := exampleFolders(t)
	for _, dir := range dirs {
		t.Run(dir, func(t *testing.T) {
			want, err := build(fsys, dir)
			require.NoError(t, err)
			var c fileBuilds
			got, ok := c.build(fsys, dir)
			require.True(t, ok, "a rendered folder is built file by file")
			assertSameBuild(t, want, thawed(t, got))
		})
	}
}

// TestFileBuildsReuseUnchangedFiles: a new revision that changes one file
// builds that file again, in one kustomize run, and reuses the others'
// objects.
func TestFileBuildsReuseUnchangedFiles(t *testing.T) {
	fsys, dirs := exampleFolders(t)
	dir := dirs[0]
	var c fileBuilds
	first, ok := c.build(fsys, dir)
	require.True(t, ok)
	require.Greater(t, len(first), 1)

	changed := fstest.MapFS{}
	for p, f := range fsys {
		changed[p] = f
	}
	edited := first[0].file
	changed[edited] = &fstest.MapFile{Data: append(append([]byte(nil), fsys[edited].Data...), []byte("\n# a change\n")...), Mode: 0o644}
	second, ok := c.build(changed, dir)
	require.True(t, ok)
	assert.Equal(t, 1, c.runs, "one kustomize run, on the changed file")
	require.Len(t, second, len(first))
	for i := range first {
		if first[i].file != edited {
			assert.Same(t, &first[i].data[0], &second[i].data[0], "%s unchanged: reused", first[i].file)
		}
	}
	want, err := build(changed, dir)
	require.NoError(t, err)
	assertSameBuild(t, want, thawed(t, second))
}

// TestFileBuildsLeaveOtherFoldersToTheWholeBuild: anything but the rendered
// shape is built whole, so that kustomize's own checks and errors apply.
func TestFileBuildsLeaveOtherFoldersToTheWholeBuild(t *testing.T) {
	const dir = "clusters/c/app"
	crd := func(name string) string {
		return "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: " + name + "\n"
	}
	kust := func(extra, resources string) string {
		return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nlabels:\n- pairs:\n    bindsync.io/cluster: c\n" + extra + "resources:\n" + resources
	}
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"another kustomization field (namePrefix)", map[string]string{"kustomization.yaml": kust("namePrefix: x-\n", "- a.yaml\n"), "a.yaml": crd("as.g")}},
		{"labels with includeSelectors", map[string]string{"kustomization.yaml": "kind: Kustomization\nlabels:\n- pairs: {a: b}\n  includeSelectors: true\nresources:\n- a.yaml\n", "a.yaml": crd("as.g")}},
		{"a resource outside the folder", map[string]string{"kustomization.yaml": kust("", "- ../other/a.yaml\n")}},
		{"a remote resource", map[string]string{"kustomization.yaml": kust("", "- https://example.com/a.yaml\n")}},
		{"a base (a folder)", map[string]string{"kustomization.yaml": kust("", "- base\n"), "base/kustomization.yaml": kust("", "- a.yaml\n"), "base/a.yaml": crd("as.g")}},
		{"a file named twice", map[string]string{"kustomization.yaml": kust("", "- a.yaml\n- a.yaml\n"), "a.yaml": crd("as.g")}},
		{"the same object in two files", map[string]string{"kustomization.yaml": kust("", "- a.yaml\n- b.yaml\n"), "a.yaml": crd("as.g"), "b.yaml": crd("as.g")}},
		{"a missing file", map[string]string{"kustomization.yaml": kust("", "- a.yaml\n")}},
		{"a file that does not parse", map[string]string{"kustomization.yaml": kust("", "- a.yaml\n"), "a.yaml": "kind: [\n"}},
		{"a second kustomization file name", map[string]string{"kustomization.yaml": kust("", "- a.yaml\n"), "a.yaml": crd("as.g"), "kustomization.yml": kust("", "- a.yaml\n")}},
		{"no kustomization", map[string]string{"a.yaml": crd("as.g")}},
		{"no resources (an empty build)", map[string]string{"kustomization.yaml": kust("", "[]\n")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for p, c := range tc.files {
				fsys[path.Join(dir, p)] = &fstest.MapFile{Data: []byte(c), Mode: 0o644}
			}
			var c fileBuilds
			_, ok := c.build(fsys, dir)
			assert.False(t, ok)
		})
	}
}

// TestFileBuildsColdStartRunsInChunks: a cold start is not built whole
// (kustomize would hold every file's YAML trees at once) but in runs of
// chunkFiles files, whose objects are told apart by file; the result is the
// whole build's. The same revision again runs nothing; a change to one file
// runs kustomize on that file alone.
func TestFileBuildsColdStartRunsInChunks(t *testing.T) {
	const dir = "clusters/c/app"
	fsys := fstest.MapFS{}
	resources := ""
	files := 2*chunkFiles + 4
	for i := range files {
		name := fmt.Sprintf("widget%02ds.g.test", i)
		p := "crds/" + name + ".yaml"
		resources += "- " + p + "\n"
		fsys[path.Join(dir, p)] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
			"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: %s\nspec:\n  group: g.test\n", name)), Mode: 0o644}
	}
	// One file holds two objects: both are its.
	two := path.Join(dir, "crds/widget05s.g.test.yaml")
	fsys[two].Data = append(fsys[two].Data, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: ns\n"...)
	fsys[path.Join(dir, "kustomization.yaml")] = &fstest.MapFile{Data: []byte(
		"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nlabels:\n- pairs:\n    bindsync.io/cluster: c\nresources:\n" + resources), Mode: 0o644}
	whole, err := build(fsys, dir)
	require.NoError(t, err)
	require.Len(t, whole, files+1)

	var c fileBuilds
	cold, ok := c.build(fsys, dir)
	require.True(t, ok, "a cold start of %d files is built file by file", files)
	assert.Equal(t, 3, c.runs, "%d files in runs of %d", files, chunkFiles)
	assertSameBuild(t, whole, thawed(t, cold))

	again, ok := c.build(fsys, dir)
	require.True(t, ok, "the same revision again: every file kept")
	assert.Zero(t, c.runs)
	assertSameBuild(t, whole, thawed(t, again))

	edited := whole[3].file
	changed := fstest.MapFS{}
	for p, f := range fsys {
		changed[p] = f
	}
	changed[edited] = &fstest.MapFile{Data: append(append([]byte(nil), fsys[edited].Data...), "  scope: Cluster\n"...), Mode: 0o644}
	got, ok := c.build(changed, dir)
	require.True(t, ok, "one changed file is built alone")
	assert.Equal(t, 1, c.runs)
	want, err := build(changed, dir)
	require.NoError(t, err)
	assertSameBuild(t, want, thawed(t, got))
}

// TestThawGivesObjectsOfTheirOwn: a kept build is thawed anew for every
// pass: equal to what was built, and a change to one thawed object is not
// seen by the next pass.
func TestThawGivesObjectsOfTheirOwn(t *testing.T) {
	fsys, dirs := exampleFolders(t)
	want, err := build(fsys, dirs[0])
	require.NoError(t, err)
	kept, err := freezeAll(want)
	require.NoError(t, err)
	first := thawed(t, kept)
	assertSameBuild(t, want, first)
	first[0].obj.SetName("changed-by-a-pass")
	assertSameBuild(t, want, thawed(t, kept))
}
