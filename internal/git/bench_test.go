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

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testutil/benchclock"
	"github.com/bindsync/bindsync/internal/testutil/scalefixture"
)

// The benchmarks below measure what the backend does at scale: 1000 app
// clusters each binding 10 of the real Klutch CRDs (one template per CRD),
// rendered by internal/render and committed to a local bare repository.
// The backend renders every cluster on every reconcile through a
// render.Cache it keeps from one reconcile to the next, so the repeated
// cases (a new request, a schema change, a no-op) render everything
// through a cache warmed by the render before; the first full render is
// cold. `make bench` runs them; docs/git.md records the figures.

const (
	benchClusters = 1000
	benchBindings = 10
)

// The shared scale fixture: clusters app clusters, each with a request for
// each of the first bindings templates (one template per real Klutch CRD).
var (
	scaleInput  = scalefixture.Input
	clusterName = scalefixture.ClusterName
	addCluster  = scalefixture.AddCluster
	request     = scalefixture.Request
)

func renderTree(tb testing.TB, in render.Input) staterepo.Tree {
	return renderWith(tb, nil, in)
}

// renderWith renders in through cache (nil: no cache).
func renderWith(tb testing.TB, cache *render.Cache, in render.Input) staterepo.Tree {
	out := cache.Render(in)
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
	clk := benchclock.Start(b)
	defer clk.Report()
	for i := 0; i < b.N; i++ {
		clk.Stop()
		r := benchRepo(b)
		clk.Resume()
		tree := renderTree(b, in)
		_, changed, err := r.Commit(plumbing.ZeroHash, tree, staterepo.Message{Subject: "render"})
		require.NoError(b, err)
		require.True(b, changed)
		objects = r.Stats().ObjectsWritten
	}
	b.ReportMetric(float64(objects), "objects")
}

// BenchmarkCommitOnly is the commit half of BenchmarkFullRenderCommit.
func BenchmarkCommitOnly(b *testing.B) {
	tree := renderTree(b, scaleInput(b, benchClusters, benchBindings))
	clk := benchclock.Start(b)
	defer clk.Report()
	for i := 0; i < b.N; i++ {
		clk.Stop()
		r := benchRepo(b)
		clk.Resume()
		_, _, err := r.Commit(plumbing.ZeroHash, tree, staterepo.Message{Subject: "render"})
		require.NoError(b, err)
	}
}

// BenchmarkGitCLIAddCommit is the yardstick: the same rendered tree,
// written to a worktree (not timed), then `git add -A && git commit`.
func BenchmarkGitCLIAddCommit(b *testing.B) {
	tree := renderTree(b, scaleInput(b, benchClusters, benchBindings))
	clk := benchclock.Start(b)
	defer clk.Report()
	for i := 0; i < b.N; i++ {
		clk.Stop()
		dir := b.TempDir()
		gitCLI(b, dir, "init", "-q", "-b", "main")
		for p, content := range tree {
			full := filepath.Join(dir, filepath.FromSlash(p))
			require.NoError(b, os.MkdirAll(filepath.Dir(full), 0o755))
			require.NoError(b, os.WriteFile(full, content, 0o644))
		}
		clk.Resume()
		gitCLI(b, dir, "-c", "gc.auto=0", "-c", "maintenance.auto=false", "add", "-A")
		gitCLI(b, dir, "-c", "gc.auto=0", "-c", "maintenance.auto=false", "commit", "-q", "-m", "render")
	}
}

// newRequestRepo is a repository holding 1000 clusters that each bind 9
// of the 10 templates, the input it was rendered from, and a render cache
// warmed by that render (as the backend's is after its last reconcile).
func newRequestRepo(b *testing.B) (*Repo, plumbing.Hash, render.Input, *render.Cache) {
	in := scaleInput(b, benchClusters, benchBindings-1) // every cluster lacks the last template
	in.Templates = scaleInput(b, 0, benchBindings).Templates
	r := benchRepo(b)
	cache := render.NewCache()
	base, _, err := r.Commit(plumbing.ZeroHash, renderWith(b, cache, in), staterepo.Message{Subject: "base"})
	require.NoError(b, err)
	in.Requests = append(make([]v1alpha1.APIServiceExportRequest, 0, len(in.Requests)+1), in.Requests...)
	return r, base, in, cache
}

// withRequest returns in plus a request of cluster for the last template.
// in.Requests must have room for one more (newRequestRepo leaves it), so
// no copy of the 9000 requests is made per iteration.
func withRequest(in render.Input, cluster string) render.Input {
	next := in
	next.Requests = append(in.Requests[:len(in.Requests):len(in.Requests)+1], request(cluster, in.Templates[benchBindings-1].Name))
	return next
}

// BenchmarkNewRequest adds one request to a repository holding 1000
// clusters x 10 bindings as the backend does: a full render of every
// cluster through its warm cache, then CommitDirs of the request's cluster
// folder (the one folder a bind changes). Target: under 30 ms.
func BenchmarkNewRequest(b *testing.B) {
	r, base, in, cache := newRequestRepo(b)
	var objects int64
	clk := benchclock.Start(b)
	defer clk.Report()
	for i := 0; i < b.N; i++ {
		clk.Stop()
		cluster := clusterName(i % benchClusters)
		next := withRequest(in, cluster)
		before := r.Stats().ObjectsWritten
		clk.Resume()
		tree := renderWith(b, cache, next)
		dir := staterepo.ClusterDir(cluster)
		_, changed, err := r.CommitDirs(base, []string{dir}, sub(tree, dir), bindMessage(cluster, in.Templates[benchBindings-1].Name))
		require.NoError(b, err)
		require.True(b, changed)
		objects = r.Stats().ObjectsWritten - before
	}
	b.ReportMetric(float64(objects), "objects")
}

// BenchmarkNewRequestCommit is BenchmarkNewRequest with Commit of the whole
// tree instead of CommitDirs: the caller need not know which folders
// changed, and git hashes every cluster's small files again.
func BenchmarkNewRequestCommit(b *testing.B) {
	r, base, in, cache := newRequestRepo(b)
	var objects int64
	clk := benchclock.Start(b)
	defer clk.Report()
	for i := 0; i < b.N; i++ {
		clk.Stop()
		next := withRequest(in, clusterName(i%benchClusters))
		before := r.Stats().ObjectsWritten
		clk.Resume()
		_, changed, err := r.Commit(base, renderWith(b, cache, next), staterepo.Message{Subject: "bind"})
		require.NoError(b, err)
		require.True(b, changed)
		objects = r.Stats().ObjectsWritten - before
	}
	b.ReportMetric(float64(objects), "objects")
}

// BenchmarkNewRequestRenderOnly is the render half of BenchmarkNewRequest.
func BenchmarkNewRequestRenderOnly(b *testing.B) {
	_, _, in, cache := newRequestRepo(b)
	clk := benchclock.Start(b)
	defer clk.Report()
	for i := 0; i < b.N; i++ {
		clk.Stop()
		next := withRequest(in, clusterName(i%benchClusters))
		clk.Resume()
		renderWith(b, cache, next)
	}
}

// BenchmarkSchemaChange changes one CRD bound by all 1000 clusters: a
// full render through the warm cache (only the changed CRD's snapshot and
// files are made again) and one Commit on top of the full repository.
// Target: under 400 ms, writing one CRD blob and one export blob plus the
// trees above them (TestSchemaChangeWritesTwoBlobsAndTheTreesAbove).
func BenchmarkSchemaChange(b *testing.B) {
	in := scaleInput(b, benchClusters, benchBindings)
	r := benchRepo(b)
	cache := render.NewCache()
	base, _, err := r.Commit(plumbing.ZeroHash, renderWith(b, cache, in), staterepo.Message{Subject: "base"})
	require.NoError(b, err)
	var objects int64
	clk := benchclock.Start(b)
	defer clk.Report()
	for i := 0; i < b.N; i++ {
		clk.Stop()
		changed := withSchemaChange(in, i)
		before := r.Stats().ObjectsWritten
		clk.Resume()
		_, ok, err := r.Commit(base, renderWith(b, cache, changed), staterepo.Message{Subject: "schema"})
		require.NoError(b, err)
		require.True(b, ok)
		objects = r.Stats().ObjectsWritten - before
	}
	b.ReportMetric(float64(objects), "objects")
}

// BenchmarkNoopRenderCommit renders the unchanged input again through the
// warm cache and commits: no object is written
// (TestNoopRenderCommitWritesNothing).
func BenchmarkNoopRenderCommit(b *testing.B) {
	in := scaleInput(b, benchClusters, benchBindings)
	r := benchRepo(b)
	cache := render.NewCache()
	base, _, err := r.Commit(plumbing.ZeroHash, renderWith(b, cache, in), staterepo.Message{Subject: "base"})
	require.NoError(b, err)
	before := r.Stats().ObjectsWritten
	clk := benchclock.Start(b)
	defer clk.Report()
	for i := 0; i < b.N; i++ {
		_, changed, err := r.Commit(base, renderWith(b, cache, in), staterepo.Message{Subject: "again"})
		require.NoError(b, err)
		require.False(b, changed)
	}
	require.Equal(b, before, r.Stats().ObjectsWritten)
}

// TestNoopRenderCommitWritesNothing renders, as the backend does, through
// a cache kept between renders.
func TestNoopRenderCommitWritesNothing(t *testing.T) {
	in := scaleInput(t, 100, benchBindings)
	r := benchRepo(t)
	cache := render.NewCache()
	base, _, err := r.Commit(plumbing.ZeroHash, renderWith(t, cache, in), staterepo.Message{Subject: "base"})
	require.NoError(t, err)
	objects := countObjects(t, r.Dir())

	again, changed, err := r.Commit(base, renderWith(t, cache, in), staterepo.Message{Subject: "again"})
	require.NoError(t, err)
	assert.False(t, changed)
	assert.Equal(t, base, again)
	assert.Equal(t, objects, countObjects(t, r.Dir()), "no object written")
}

// TestSchemaChangeWritesTwoBlobsAndTheTreesAbove renders, as the backend
// does, through a cache kept between renders: the changed CRD is rendered
// anew, everything else comes from the cache.
func TestSchemaChangeWritesTwoBlobsAndTheTreesAbove(t *testing.T) {
	const clusters = 100
	in := scaleInput(t, clusters, benchBindings)
	r := benchRepo(t)
	cache := render.NewCache()
	base, _, err := r.Commit(plumbing.ZeroHash, renderWith(t, cache, in), staterepo.Message{Subject: "base"})
	require.NoError(t, err)
	before := countObjects(t, r.Dir())

	tree := renderWith(t, cache, withSchemaChange(in, 1))
	next, changed, err := r.Commit(base, tree, staterepo.Message{Subject: "schema"})
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

// BenchmarkSchemaChangeRenderOnly is the render half of BenchmarkSchemaChange.
func BenchmarkSchemaChangeRenderOnly(b *testing.B) {
	in := scaleInput(b, benchClusters, benchBindings)
	cache := render.NewCache()
	renderWith(b, cache, in)
	clk := benchclock.Start(b)
	defer clk.Report()
	for i := 0; i < b.N; i++ {
		clk.Stop()
		changed := withSchemaChange(in, i)
		clk.Resume()
		renderWith(b, cache, changed)
	}
}

// BenchmarkSchemaChangeCommitOnly is the git half of BenchmarkSchemaChange
// (the render is done outside the timer).
func BenchmarkSchemaChangeCommitOnly(b *testing.B) {
	in := scaleInput(b, benchClusters, benchBindings)
	r := benchRepo(b)
	base, _, err := r.Commit(plumbing.ZeroHash, renderTree(b, in), staterepo.Message{Subject: "base"})
	require.NoError(b, err)
	clk := benchclock.Start(b)
	defer clk.Report()
	for i := 0; i < b.N; i++ {
		clk.Stop()
		tree := renderTree(b, withSchemaChange(in, i))
		clk.Resume()
		_, ok, err := r.Commit(base, tree, staterepo.Message{Subject: "schema"})
		require.NoError(b, err)
		require.True(b, ok)
	}
}

// BenchmarkNewRequestCommitOnly is the git half of BenchmarkNewRequest.
func BenchmarkNewRequestCommitOnly(b *testing.B) {
	in := scaleInput(b, benchClusters, benchBindings-1)
	in.Templates = scaleInput(b, 0, benchBindings).Templates
	r := benchRepo(b)
	base, _, err := r.Commit(plumbing.ZeroHash, renderTree(b, in), staterepo.Message{Subject: "base"})
	require.NoError(b, err)
	clk := benchclock.Start(b)
	defer clk.Report()
	for i := 0; i < b.N; i++ {
		clk.Stop()
		cluster := clusterName(i % benchClusters)
		one := render.Input{CRDs: in.CRDs, Templates: in.Templates}
		addCluster(&one, cluster, in.Templates)
		dir := staterepo.ClusterDir(cluster)
		files := sub(renderTree(b, one), dir)
		clk.Resume()
		_, changed, err := r.CommitDirs(base, []string{dir}, files, bindMessage(cluster, "x"))
		require.NoError(b, err)
		require.True(b, changed)
	}
}
