package manifest_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/manifest"
	"github.com/bindsync/bindsync/internal/render"
	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

func TestSplitDocumentsKeepsFileLines(t *testing.T) {
	data := "# leading comment\n---\na: 1\n---   # a comment after the separator\n\nb: 2\n---\n# only a comment\n---\nc: 3\n...\n"
	docs := manifest.SplitDocuments("f.yaml", []byte(data))
	require.Len(t, docs, 3)
	assert.Equal(t, 3, docs[0].Line)
	assert.Equal(t, "a: 1\n", string(docs[0].Data))
	assert.Equal(t, 5, docs[1].Line)
	assert.Equal(t, 10, docs[2].Line)
	assert.Equal(t, "f.yaml:10", docs[2].Location())
}

func TestLoadDirSortsObjectsIntoTheInput(t *testing.T) {
	in, problems, err := manifest.LoadDir("../../examples/control-plane")
	require.NoError(t, err)
	assert.Empty(t, problems)
	assert.Len(t, in.CRDs, 5)
	assert.Len(t, in.Clusters, 2)
	assert.Len(t, in.Templates, 3)
	assert.Len(t, in.Requests, 4)
	assert.Equal(t, "bindsync-team-a", in.Requests[0].Namespace)
}

func TestLoadDirSkipsHiddenFoldersAndOtherFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, ".git"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, ".git", "x.yaml"), []byte("not: [valid"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.md"), []byte("not: [valid"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c.yml"), []byte("apiVersion: bindsync.io/v1alpha1\nkind: AppCluster\nmetadata:\n  name: c1\n"), 0o644))
	in, problems, err := manifest.LoadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, problems)
	require.Len(t, in.Clusters, 1)
	assert.Equal(t, "c1", in.Clusters[0].Name)
}

func TestAddReportsWhatIsWrongWithADocument(t *testing.T) {
	cases := map[string]struct {
		yaml, want string
		syntax     bool
	}{
		"yaml that does not parse": {yaml: "a: [b\n", want: "f.yaml:", syntax: true},
		"not an object":            {yaml: "- a\n- b\n", want: "not a Kubernetes object"},
		"another kind":             {yaml: "apiVersion: v1\nkind: Secret\n", want: "v1 Secret is not a render input"},
		"unknown field":            {yaml: "apiVersion: bindsync.io/v1alpha1\nkind: APIServiceExportTemplate\nspec:\n  resourcez: []\n", want: "resourcez"},
		"wrong type":               {yaml: "apiVersion: bindsync.io/v1alpha1\nkind: APIServiceExportRequest\nspec:\n  templateRef: postgresql\n", want: "APIServiceExportRequest"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var in render.Input
			p, err := manifest.Add(&in, manifest.Document{File: "f.yaml", Line: 1, Data: []byte(tc.yaml)})
			if tc.syntax {
				var syn *manifest.SyntaxError
				require.ErrorAs(t, err, &syn)
				assert.Contains(t, err.Error(), tc.want)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, p)
			assert.Contains(t, p.String(), tc.want)
			assert.Empty(t, in.Templates, "a bad document adds nothing")
			assert.Empty(t, in.Requests, "a bad document adds nothing")
		})
	}
}

func FuzzAddNeverPanics(f *testing.F) {
	f.Add([]byte("apiVersion: bindsync.io/v1alpha1\nkind: AppCluster\nmetadata:\n  name: c1\n"))
	f.Add([]byte("a: [b\n---\nc: d\n"))
	f.Add([]byte("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec:\n  versions: 3\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var in render.Input
		for _, d := range manifest.SplitDocuments("f.yaml", data) {
			_, _ = manifest.Add(&in, d)
		}
		render.Render(in)
	})
}

func TestDocumentEndMarkerEndsADocument(t *testing.T) {
	data := "apiVersion: bindsync.io/v1alpha1\nkind: AppCluster\nmetadata:\n  name: a\n...\napiVersion: bindsync.io/v1alpha1\nkind: AppCluster\nmetadata:\n  name: b\n"
	docs := manifest.SplitDocuments("f.yaml", []byte(data))
	require.Len(t, docs, 2)
	assert.Equal(t, 6, docs[1].Line)
}

func TestARepeatedKeyIsAnErrorNotASilentOverwrite(t *testing.T) {
	var in render.Input
	_, err := manifest.Add(&in, manifest.Document{File: "f.yaml", Line: 10, Data: []byte(
		"apiVersion: bindsync.io/v1alpha1\nkind: AppCluster\nmetadata:\n  name: a\nmetadata:\n  name: b\n")})
	var syn *manifest.SyntaxError
	require.ErrorAs(t, err, &syn)
	assert.Contains(t, err.Error(), "f.yaml:")
	assert.Contains(t, err.Error(), `"metadata" already set`)
	assert.Empty(t, in.Clusters)
}

func TestADocumentMayStartOnTheMarkerLine(t *testing.T) {
	docs := manifest.SplitDocuments("f.yaml", []byte("a: 1\n--- {b: 2}\n--- # comment\nc: 3\n"))
	require.Len(t, docs, 3)
	assert.Equal(t, "{b: 2}\n", string(docs[1].Data))
	assert.Equal(t, 2, docs[1].Line)
	assert.Equal(t, 4, docs[2].Line)
}
