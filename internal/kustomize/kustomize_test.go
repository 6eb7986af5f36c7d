package kustomize

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	_ "github.com/bindsync/bindsync/internal/testutil/golden" // defines -update for go test ./... -update
)

// writeTree writes files (slash paths relative to dir) and returns dir.
func writeTree(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

const configMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: %s
data:
  k: v
`

func cm(name string) string { return strings.Replace(configMap, "%s", name, 1) }

const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          size: {type: integer, minimum: 1, maximum: 10}
`

func names(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
	}
	return out
}

// TestBuildAppliesNamespaceAndLabels: the kustomization's namespace and
// labels reach every object (the order they are applied in is
// internal/apply's: TestSort there).
func TestBuildAppliesNamespaceAndLabels(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{
		"kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: bindsync-c1
labels:
- pairs: {bindsync.io/cluster: c1}
resources:
- b.yaml
- a.yaml
- crds/widgets.example.com.yaml
- namespace.yaml
`,
		"a.yaml":                        cm("a"),
		"b.yaml":                        cm("b"),
		"crds/widgets.example.com.yaml": crd,
		"namespace.yaml":                "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bindsync-c1\n",
	})

	objs, err := Build(dir)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		"Namespace//bindsync-c1",
		"CustomResourceDefinition//widgets.example.com",
		"ConfigMap/bindsync-c1/a",
		"ConfigMap/bindsync-c1/b",
	}, names(objs))
	for _, o := range objs {
		assert.Equal(t, "c1", o.GetLabels()["bindsync.io/cluster"], o.GetName())
		assert.NotPanics(t, func() { o.DeepCopy() }, "numbers are JSON numbers (int64), as unstructured needs")
	}

	again, err := Build(dir)
	require.NoError(t, err)
	first, err := EncodeYAML(objs)
	require.NoError(t, err)
	second, err := EncodeYAML(again)
	require.NoError(t, err)
	assert.Equal(t, string(first), string(second), "two builds give identical bytes")
	assert.Contains(t, string(first), "---\n")
}

func TestBuildFSSeesOnlyTheFolder(t *testing.T) {
	fsys := fstest.MapFS{
		"clusters/c1/app/kustomization.yaml": {Data: []byte("resources:\n- cm.yaml\n")},
		"clusters/c1/app/cm.yaml":            {Data: []byte(cm("mine"))},
		"clusters/c2/app/kustomization.yaml": {Data: []byte("resources:\n- ../../c1/app/cm.yaml\n")},
		".git/config":                        {Data: []byte("[core]\n")},
	}
	objs, err := BuildFS(fsys, "clusters/c1/app")
	require.NoError(t, err)
	assert.Equal(t, []string{"ConfigMap//mine"}, names(objs))

	_, err = BuildFS(fsys, "clusters/c2/app")
	require.ErrorIs(t, err, ErrOutsideFolder)
}

func TestBuildRefuses(t *testing.T) {
	outside := writeTree(t, t.TempDir(), map[string]string{"secret.yaml": cm("outside")})

	cases := []struct {
		name  string
		files map[string]string
		is    error    // sentinel the error wraps, if any
		want  []string // substrings of the error
	}{
		{
			name:  "a ../ escape to a file next to the folder",
			files: map[string]string{"kustomization.yaml": "resources:\n- ../secret.yaml\n"},
			is:    ErrOutsideFolder,
			want:  []string{"kustomization.yaml", `resources entry "../secret.yaml"`},
		},
		{
			name:  "an absolute path",
			files: map[string]string{"kustomization.yaml": "resources:\n- " + filepath.ToSlash(filepath.Join(outside, "secret.yaml")) + "\n"},
			is:    ErrOutsideFolder,
			want:  []string{"kustomization.yaml", "resources entry"},
		},
		{
			name: "an escape from a nested kustomization",
			files: map[string]string{
				"kustomization.yaml":      "resources:\n- base\n",
				"base/kustomization.yaml": "patches:\n- path: ../../patch.yaml\n",
			},
			is:   ErrOutsideFolder,
			want: []string{"base/kustomization.yaml", `patches entry "../../patch.yaml"`},
		},
		{
			name:  "an https remote base",
			files: map[string]string{"kustomization.yaml": "resources:\n- https://github.com/example/repo//config?ref=v1\n"},
			is:    ErrRemote,
			want:  []string{"kustomization.yaml", `resources entry "https://github.com/example/repo//config?ref=v1"`},
		},
		{
			name:  "an scp-like git base",
			files: map[string]string{"kustomization.yaml": "components:\n- git@example.com:org/repo.git/comp\n"},
			is:    ErrRemote,
			want:  []string{`components entry "git@example.com:org/repo.git/comp"`},
		},
		{
			name:  "a github.com shorthand base",
			files: map[string]string{"kustomization.yaml": "bases:\n- github.com/example/repo/config\n"},
			is:    ErrRemote,
			want:  []string{`resources entry "github.com/example/repo/config"`},
		},
		{
			name:  "a git:: base",
			files: map[string]string{"kustomization.yaml": "resources:\n- git::https://example.com/repo\n"},
			is:    ErrRemote,
		},
		{
			name:  "a remote file for a generator",
			files: map[string]string{"kustomization.yaml": "configMapGenerator:\n- name: x\n  files:\n  - key=http://example.com/f\n"},
			is:    ErrRemote,
			want:  []string{`configMapGenerator entry "http://example.com/f"`},
		},
		{
			name:  "helm charts",
			files: map[string]string{"kustomization.yaml": "helmCharts:\n- name: x\n  repo: https://example.com\n"},
			want:  []string{"kustomization.yaml", "helmCharts"},
		},
		{
			name:  "a malformed kustomization",
			files: map[string]string{"kustomization.yaml": "resources: [a.yaml\n"},
			want:  []string{"kustomization.yaml", "invalid kustomization"},
		},
		{
			name:  "an unknown field",
			files: map[string]string{"kustomization.yaml": "resourcez:\n- a.yaml\n"},
			want:  []string{"kustomization.yaml", "resourcez"},
		},
		{
			name:  "a malformed resource",
			files: map[string]string{"kustomization.yaml": "resources:\n- a.yaml\n", "a.yaml": "kind: [\n"},
			want:  []string{"a.yaml"},
		},
		{
			name:  "a missing resource",
			files: map[string]string{"kustomization.yaml": "resources:\n- missing.yaml\n"},
			want:  []string{"missing.yaml"},
		},
		{
			name:  "no kustomization",
			files: map[string]string{"a.yaml": cm("a")},
			is:    ErrNoKustomization,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			writeTree(t, parent, map[string]string{"secret.yaml": cm("neighbour"), "patch.yaml": cm("p")})
			dir := writeTree(t, filepath.Join(parent, "folder"), tc.files)

			objs, err := Build(dir)
			require.Error(t, err, "built %v", names(objs))
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			for _, s := range tc.want {
				assert.Contains(t, err.Error(), s)
			}
			assert.NotContains(t, err.Error(), "neighbour")
		})
	}
}

func TestBuildRefusesSymlinkOutOfFolder(t *testing.T) {
	outside := writeTree(t, t.TempDir(), map[string]string{"secret.yaml": cm("outside")})
	dir := writeTree(t, t.TempDir(), map[string]string{"kustomization.yaml": "resources:\n- link.yaml\n"})
	require.NoError(t, os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(dir, "link.yaml")))

	_, err := Build(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "link.yaml")
}

func TestBuildAllowsLocalFilesThatLookRemote(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{
		"kustomization.yaml":               "resources:\n- github.com/org/cm.yaml\n- overlays/prod\n",
		"github.com/org/cm.yaml":           cm("vendored"),
		"notes (draft).md":                 "not loadable, skipped",
		"old drafts/kustomization.yaml":    "resources:\n- https://example.com/skipped-with-its-folder\n",
		"base/kustomization.yaml":          "resources:\n- cm.yaml\n",
		"base/cm.yaml":                     cm("base"),
		"overlays/prod/kustomization.yaml": "resources:\n- ../../base\nnamePrefix: prod-\n",
	})
	objs, err := Build(dir)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"ConfigMap//prod-base", "ConfigMap//vendored"}, names(objs))
}

// kustomize tries a folder entry as a Git URL before it looks on disk, so a
// local folder named like a repository would be fetched: refuse it.
func TestBuildRefusesLocalFoldersThatLookRemote(t *testing.T) {
	dir := writeTree(t, t.TempDir(), map[string]string{
		"kustomization.yaml":                     "resources:\n- github.com/org/repo\n",
		"github.com/org/repo/kustomization.yaml": "resources:\n- cm.yaml\n",
		"github.com/org/repo/cm.yaml":            cm("vendored"),
	})
	_, err := Build(dir)
	require.ErrorIs(t, err, ErrRemote)
}

func TestIsRemote(t *testing.T) {
	remote := []string{
		"https://github.com/org/repo//dir?ref=v1", "http://example.com/x.yaml", "ssh://git@example.com/repo",
		"file:///srv/repo", "git::https://example.com/repo", "git@github.com:org/repo", "GitHub.com/org/repo",
	}
	for _, v := range remote {
		assert.True(t, hasScheme(v) || looksRemote(v), v)
	}
	local := []string{"crds/widgets.example.com.yaml", "../base", "exports"}
	for _, v := range local {
		assert.False(t, hasScheme(v) || looksRemote(v), v)
	}
}

// Builds from several goroutines (the agent and backend run reconcilers in
// parallel) give the same result, and are clean under -race.
func TestBuildConcurrently(t *testing.T) {
	fsys := fstest.MapFS{
		"kustomization.yaml": {Data: []byte("namespace: ns\nresources:\n- cm.yaml\n- crd.yaml\n")},
		"cm.yaml":            {Data: []byte(cm("a"))},
		"crd.yaml":           {Data: []byte(crd)},
	}
	want, err := BuildFS(fsys, ".")
	require.NoError(t, err)
	wantYAML, err := EncodeYAML(want)
	require.NoError(t, err)

	const workers = 8
	errs := make(chan error, workers)
	outs := make(chan []byte, workers)
	for range workers {
		go func() {
			objs, err := BuildFS(fsys, ".")
			if err == nil {
				var y []byte
				y, err = EncodeYAML(objs)
				outs <- y
			}
			errs <- err
		}()
	}
	for range workers {
		require.NoError(t, <-errs)
	}
	close(outs)
	for y := range outs {
		assert.Equal(t, string(wantYAML), string(y))
	}
}

// TestBuildRefusesBombsAndOversizedInput: YAML anchors and aliases (render
// never writes them; nested ones expand to gigabytes), a file over
// MaxFileBytes and a folder over MaxFolderBytes are refused before
// kustomize reads anything, with an error naming the file.
func TestBuildRefusesBombsAndOversizedInput(t *testing.T) {
	bomb := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  a: &a [\"lol\",\"lol\"]\n  b: &b [*a,*a]\n  c: [*b,*b]\n"
	big := "# " + strings.Repeat("x", MaxFileBytes) + "\n"
	chunk := "# " + strings.Repeat("x", MaxFileBytes-100) + "\n"
	many := fstest.MapFS{"app/kustomization.yaml": {Data: []byte("resources: [cm.yaml]\n")}, "app/cm.yaml": {Data: []byte(cm("a"))}}
	for i := range MaxFolderBytes/len(chunk) + 1 {
		many["app/pad"+strings.Repeat("x", i%5)+string(rune('a'+i%26))+string(rune('a'+i/26))+".yaml"] = &fstest.MapFile{Data: []byte(chunk)}
	}
	tests := []struct {
		name string
		fsys fstest.MapFS
		want error
		file string
	}{
		{name: "nested aliases", want: ErrYAMLAlias, file: "bomb.yaml", fsys: fstest.MapFS{
			"app/kustomization.yaml": {Data: []byte("resources: [bomb.yaml]\n")}, "app/bomb.yaml": {Data: []byte(bomb)}}},
		{name: "an anchor in the kustomization", want: ErrYAMLAlias, file: "kustomization.yaml", fsys: fstest.MapFS{
			"app/kustomization.yaml": {Data: []byte("resources: &r [cm.yaml]\n")}, "app/cm.yaml": {Data: []byte(cm("a"))}}},
		{name: "a file over the bound", want: ErrTooLarge, file: "big.yaml", fsys: fstest.MapFS{
			"app/kustomization.yaml": {Data: []byte("resources: [cm.yaml]\n")}, "app/cm.yaml": {Data: []byte(cm("a"))}, "app/big.yaml": {Data: []byte(big)}}},
		{name: "a folder over the bound", want: ErrTooLarge, fsys: many},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := BuildFS(tt.fsys, "app")
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), tt.file)
		})
	}
	t.Run("stars and ampersands in strings are not aliases", func(t *testing.T) {
		fsys := fstest.MapFS{"app/kustomization.yaml": {Data: []byte("resources: [cm.yaml]\n")},
			"app/cm.yaml": {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  k: \"*a & b\"\n  p: '^[a-z]*$'\n")}}
		objs, err := BuildFS(fsys, "app")
		require.NoError(t, err)
		require.Len(t, objs, 1)
	})
}
