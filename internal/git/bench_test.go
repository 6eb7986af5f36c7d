package git

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/manifest"
	"github.com/bindsync/bindsync/internal/render"
)

// The benchmarks below measure what the backend does at scale: 1000 app
// clusters each binding 10 of the real Klutch CRDs (one template per CRD),
// rendered by internal/render and committed to a local bare repository.
// `make bench` runs them; docs/git.md records the figures.

const (
	benchClusters = 1000
	benchBindings = 10
)

// scaleInput is clusters app clusters, each with a request for each of
// the first bindings templates (one template per real Klutch CRD).
func scaleInput(tb testing.TB, clusters, bindings int) render.Input {
	tb.Helper()
	in, problems, err := manifest.LoadDir(filepath.Join("..", "..", "testdata", "crds", "klutch"))
	require.NoError(tb, err)
	require.Empty(tb, problems)
	require.GreaterOrEqual(tb, len(in.CRDs), bindings)
	for i := 0; i < bindings; i++ {
		crd := in.CRDs[i]
		in.Templates = append(in.Templates, v1alpha1.APIServiceExportTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: crd.Spec.Names.Singular},
			Spec: v1alpha1.APIServiceExportTemplateSpec{
				Resources: []v1alpha1.GroupResource{{Group: crd.Spec.Group, Resource: crd.Spec.Names.Plural}},
				PermissionClaims: []v1alpha1.PermissionClaim{
					{GroupResource: v1alpha1.GroupResource{Resource: "secrets"}, Verbs: []v1alpha1.Verb{"get", "list", "watch"}},
				},
			},
		})
	}
	for c := 0; c < clusters; c++ {
		addCluster(&in, clusterName(c), in.Templates)
	}
	return in
}

func clusterName(c int) string { return fmt.Sprintf("cluster-%04d", c) }

func addCluster(in *render.Input, name string, templates []v1alpha1.APIServiceExportTemplate) {
	in.Clusters = append(in.Clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: name}})
	for _, tpl := range templates {
		in.Requests = append(in.Requests, request(name, tpl.Name))
	}
}

func request(cluster, template string) v1alpha1.APIServiceExportRequest {
	return v1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: template, Namespace: v1alpha1.ClusterNamespace(cluster)},
		Spec:       v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: template}},
	}
}

func renderTree(tb testing.TB, in render.Input) render.Tree {
	out := render.Render(in)
	require.Empty(tb, out.Problems)
	return out.Tree
}

// withSchemaChange returns in with a compatible change to the first CRD's
// schema (a new optional field named after n, so each n is a new schema).
func withSchemaChange(in render.Input, n int) render.Input {
	out := in
	out.CRDs = append([]apiextensionsv1.CustomResourceDefinition(nil), in.CRDs...)
	crd := out.CRDs[0].DeepCopy()
	for i := range crd.Spec.Versions {
		spec := crd.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"]
		spec.Properties[fmt.Sprintf("benchField%d", n)] = apiextensionsv1.JSONSchemaProps{Type: "string"}
		crd.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"] = spec
	}
	out.CRDs[0] = *crd
	return out
}

func benchRepo(tb testing.TB) *Repo {
	tb.Helper()
	r, err := Open(context.Background(), Options{Dir: filepath.Join(tb.TempDir(), "state.git")})
	require.NoError(tb, err)
	return r
}

// BenchmarkFullRenderCommit renders 1000 clusters x 10 bindings and commits
// the whole tree into an empty repository. Target: under 1 s, and faster
// than BenchmarkGitCLIAddCommit of the same tree.
func BenchmarkFullRenderCommit(b *testing.B) {
	in := scaleInput(b, benchClusters, benchBindings)
	var objects int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := benchRepo(b)
		b.StartTimer()
		tree := renderTree(b, in)
		_, changed, err := r.Commit(plumbing.ZeroHash, tree, Message{Subject: "render"})
		require.NoError(b, err)
		require.True(b, changed)
		objects = r.Stats().ObjectsWritten
	}
	b.ReportMetric(float64(objects), "objects")
}

// BenchmarkCommitOnly is the commit half of BenchmarkFullRenderCommit.
func BenchmarkCommitOnly(b *testing.B) {
	tree := renderTree(b, scaleInput(b, benchClusters, benchBindings))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		r := benchRepo(b)
		b.StartTimer()
		_, _, err := r.Commit(plumbing.ZeroHash, tree, Message{Subject: "render"})
		require.NoError(b, err)
	}
}

// BenchmarkGitCLIAddCommit is the yardstick: the same rendered tree,
// written to a worktree (not timed), then `git add -A && git commit`.
func BenchmarkGitCLIAddCommit(b *testing.B) {
	tree := renderTree(b, scaleInput(b, benchClusters, benchBindings))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		gitCLI(b, dir, "init", "-q", "-b", "main")
		for p, content := range tree {
			full := filepath.Join(dir, filepath.FromSlash(p))
			require.NoError(b, os.MkdirAll(filepath.Dir(full), 0o755))
			require.NoError(b, os.WriteFile(full, content, 0o644))
		}
		b.StartTimer()
		gitCLI(b, dir, "-c", "gc.auto=0", "-c", "maintenance.auto=false", "add", "-A")
		gitCLI(b, dir, "-c", "gc.auto=0", "-c", "maintenance.auto=false", "commit", "-q", "-m", "render")
	}
}

// BenchmarkNewRequest adds one request to a repository holding 1000
// clusters x 10 bindings: it renders the cluster the request belongs to and
// replaces that cluster's folder with CommitDirs. Target: under 30 ms.
func BenchmarkNewRequest(b *testing.B) {
	in := scaleInput(b, benchClusters, benchBindings-1) // every cluster lacks the last template
	full := scaleInput(b, 0, benchBindings)
	in.Templates = full.Templates
	r := benchRepo(b)
	base, _, err := r.Commit(plumbing.ZeroHash, renderTree(b, in), Message{Subject: "base"})
	require.NoError(b, err)
	var objects int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cluster := clusterName(i % benchClusters)
		one := render.Input{CRDs: in.CRDs, Templates: in.Templates}
		addCluster(&one, cluster, in.Templates) // the cluster's requests, the new one included
		tree := renderTree(b, one)
		dir := render.ClusterDir(cluster)
		before := r.Stats().ObjectsWritten
		_, changed, err := r.CommitDirs(base, []string{dir}, sub(tree, dir), bindMessage(cluster, in.Templates[benchBindings-1].Name))
		require.NoError(b, err)
		require.True(b, changed)
		objects = r.Stats().ObjectsWritten - before
	}
	b.ReportMetric(float64(objects), "objects")
}

// BenchmarkNewRequestFullRender is BenchmarkNewRequest the simple way:
// render every cluster and Commit the whole tree.
func BenchmarkNewRequestFullRender(b *testing.B) {
	in := scaleInput(b, benchClusters, benchBindings-1)
	in.Templates = scaleInput(b, 0, benchBindings).Templates
	r := benchRepo(b)
	base, _, err := r.Commit(plumbing.ZeroHash, renderTree(b, in), Message{Subject: "base"})
	require.NoError(b, err)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next := in
		next.Requests = append(append([]v1alpha1.APIServiceExportRequest(nil), in.Requests...), request(clusterName(i%benchClusters), in.Templates[benchBindings-1].Name))
		_, changed, err := r.Commit(base, renderTree(b, next), Message{Subject: "bind"})
		require.NoError(b, err)
		require.True(b, changed)
	}
}

// BenchmarkSchemaChange changes one CRD bound by all 1000 clusters:
// a full render and one commit on top of the full repository.
// Target: under 400 ms, writing one CRD blob and one export blob plus the
// trees above them (TestSchemaChangeWritesTwoBlobsAndTheTreesAbove).
func BenchmarkSchemaChange(b *testing.B) {
	in := scaleInput(b, benchClusters, benchBindings)
	r := benchRepo(b)
	base, _, err := r.Commit(plumbing.ZeroHash, renderTree(b, in), Message{Subject: "base"})
	require.NoError(b, err)
	var objects int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		changed := withSchemaChange(in, i)
		before := r.Stats().ObjectsWritten
		b.StartTimer()
		_, ok, err := r.Commit(base, renderTree(b, changed), Message{Subject: "schema"})
		require.NoError(b, err)
		require.True(b, ok)
		objects = r.Stats().ObjectsWritten - before
	}
	b.ReportMetric(float64(objects), "objects")
}

// BenchmarkNoopRenderCommit renders the unchanged input again and commits:
// no object is written (TestNoopRenderCommitWritesNothing).
func BenchmarkNoopRenderCommit(b *testing.B) {
	in := scaleInput(b, benchClusters, benchBindings)
	r := benchRepo(b)
	base, _, err := r.Commit(plumbing.ZeroHash, renderTree(b, in), Message{Subject: "base"})
	require.NoError(b, err)
	before := r.Stats().ObjectsWritten
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, changed, err := r.Commit(base, renderTree(b, in), Message{Subject: "again"})
		require.NoError(b, err)
		require.False(b, changed)
	}
	require.Equal(b, before, r.Stats().ObjectsWritten)
}

func TestNoopRenderCommitWritesNothing(t *testing.T) {
	in := scaleInput(t, 100, benchBindings)
	r := benchRepo(t)
	base, _, err := r.Commit(plumbing.ZeroHash, renderTree(t, in), Message{Subject: "base"})
	require.NoError(t, err)
	objects := countObjects(t, r.Dir())

	again, changed, err := r.Commit(base, renderTree(t, in), Message{Subject: "again"})
	require.NoError(t, err)
	assert.False(t, changed)
	assert.Equal(t, base, again)
	assert.Equal(t, objects, countObjects(t, r.Dir()), "no object written")
}

func TestSchemaChangeWritesTwoBlobsAndTheTreesAbove(t *testing.T) {
	const clusters = 100
	in := scaleInput(t, clusters, benchBindings)
	r := benchRepo(t)
	base, _, err := r.Commit(plumbing.ZeroHash, renderTree(t, in), Message{Subject: "base"})
	require.NoError(t, err)
	before := countObjects(t, r.Dir())

	tree := renderTree(t, withSchemaChange(in, 1))
	next, changed, err := r.Commit(base, tree, Message{Subject: "schema"})
	require.NoError(t, err)
	require.True(t, changed)

	// what git itself says is new: every object of next not in base
	var blobs, trees, commits int
	var blobPaths []string
	for _, line := range strings.Split(gitCLI(t, r.Dir(), "rev-list", "--objects", next.String(), "^"+base.String()), "\n") {
		hash, p, _ := strings.Cut(line, " ")
		switch gitCLI(t, r.Dir(), "cat-file", "-t", hash) {
		case "blob":
			blobs++
			blobPaths = append(blobPaths, path.Base(path.Dir(p))+"/"+path.Base(p))
		case "tree":
			trees++
		case "commit":
			commits++
		}
	}
	crd := in.CRDs[0].Name
	assert.ElementsMatch(t, []string{"crds/" + crd + ".yaml", "exports/" + crd + ".yaml"}, blobPaths, "one CRD snapshot and one export blob, shared by every cluster")
	// shared by every cluster: app/crds and control-plane/exports; per cluster
	// (their kustomizations name the cluster): app, control-plane and the
	// cluster's folder; then clusters and the root
	assert.NotEqual(t, gitCLI(t, r.Dir(), "rev-parse", next.String()+":clusters/cluster-0000/app"),
		gitCLI(t, r.Dir(), "rev-parse", next.String()+":clusters/cluster-0001/app"), "app folders differ per cluster")
	assert.Equal(t, 2+3*clusters+2, trees)
	assert.Equal(t, 1, commits)
	assert.Equal(t, before+blobs+trees+commits, countObjects(t, r.Dir()), "exactly these objects were written")
	gitCLI(t, r.Dir(), "fsck", "--strict", "--no-dangling") // the packs bindsync wrote are valid
	packs, err := filepath.Glob(filepath.Join(r.Dir(), "objects", "pack", "*.idx"))
	require.NoError(t, err)
	require.Len(t, packs, 2, "the base and the schema change, each one pack")
	for _, idx := range packs {
		gitCLI(t, r.Dir(), "verify-pack", idx)
	}
}

// BenchmarkSchemaChangeCommitOnly is the git half of BenchmarkSchemaChange
// (the render is done outside the timer).
func BenchmarkSchemaChangeCommitOnly(b *testing.B) {
	in := scaleInput(b, benchClusters, benchBindings)
	r := benchRepo(b)
	base, _, err := r.Commit(plumbing.ZeroHash, renderTree(b, in), Message{Subject: "base"})
	require.NoError(b, err)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tree := renderTree(b, withSchemaChange(in, i))
		b.StartTimer()
		_, ok, err := r.Commit(base, tree, Message{Subject: "schema"})
		require.NoError(b, err)
		require.True(b, ok)
	}
}

// BenchmarkNewRequestCommitOnly is the git half of BenchmarkNewRequest.
func BenchmarkNewRequestCommitOnly(b *testing.B) {
	in := scaleInput(b, benchClusters, benchBindings-1)
	in.Templates = scaleInput(b, 0, benchBindings).Templates
	r := benchRepo(b)
	base, _, err := r.Commit(plumbing.ZeroHash, renderTree(b, in), Message{Subject: "base"})
	require.NoError(b, err)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		cluster := clusterName(i % benchClusters)
		one := render.Input{CRDs: in.CRDs, Templates: in.Templates}
		addCluster(&one, cluster, in.Templates)
		dir := render.ClusterDir(cluster)
		files := sub(renderTree(b, one), dir)
		b.StartTimer()
		_, changed, err := r.CommitDirs(base, []string{dir}, files, bindMessage(cluster, "x"))
		require.NoError(b, err)
		require.True(b, changed)
	}
}
