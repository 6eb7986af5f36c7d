package render_test

import (
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testutil/scalefixture"
)

// scaleInput is clusters app clusters, each binding perCluster of the real
// Klutch CRDs through one template per CRD (the shared scale fixture).
var scaleInput = scalefixture.Input

// BenchmarkRender1000x10 renders 1000 app clusters x 10 bindings of the real
// CRDs. It reports the tree's file count, its logical size (what a checkout
// holds) and its unique size (what git stores as blobs).
func BenchmarkRender1000x10(b *testing.B) {
	in := scaleInput(b, 1000, 10)
	benchmarkRender(b, in)
}

// benchmarkRender renders in b.N times and reports the tree's file count, its
// logical size (what a checkout holds) and its unique size (what git stores).
func benchmarkRender(b *testing.B, in render.Input) {
	b.ReportAllocs()
	b.ResetTimer()
	var out render.Output
	for b.Loop() {
		out = render.Render(in)
	}
	b.StopTimer()
	require.Empty(b, out.Problems)
	logical, unique := treeSizes(out.Tree)
	b.ReportMetric(float64(len(out.Tree)), "files")
	b.ReportMetric(float64(logical)/(1<<20), "tree-MiB")
	b.ReportMetric(float64(unique)/(1<<20), "unique-MiB")
}

func treeSizes(t staterepo.Tree) (logical, unique int) {
	seen := map[*byte]bool{}
	for _, b := range t {
		logical += len(b)
		if p := unsafe.SliceData(b); !seen[p] {
			seen[p] = true
			unique += len(b)
		}
	}
	return logical, unique
}

func TestScaleRenderSharesEverySnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("renders 100 clusters")
	}
	out := render.Render(scaleInput(t, 100, 10))
	require.Empty(t, out.Problems)
	require.Equal(t, 2+100*(5+2*10), len(out.Tree), "README and marker plus 25 files a cluster")
	_, unique := treeSizes(out.Tree)
	var perCluster int
	for _, p := range out.Tree.Paths() {
		if filepath.Dir(filepath.Dir(p)) == "clusters/cluster-0000" || filepath.Dir(filepath.Dir(filepath.Dir(p))) == "clusters/cluster-0000" {
			perCluster += len(out.Tree[p])
		}
	}
	require.Less(t, unique, perCluster+100*8<<10, "100 clusters must cost one cluster's snapshots plus a few small files each")
}

// BenchmarkRender1000Distinct is the worst case for sharing: 1000 clusters
// that each bind a different subset of the 11 real CRDs (5.5 on average), so
// no two clusters have the same Role.
func BenchmarkRender1000Distinct(b *testing.B) {
	in := scaleInput(b, 0, 11)
	for c := 0; c < 1000; c++ {
		name := scalefixture.ClusterName(c)
		in.Clusters = append(in.Clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: name}})
		subset := c*2039%2047 + 1 // a distinct non-empty subset of 11 templates per cluster
		for i, tpl := range in.Templates {
			if subset&(1<<i) == 0 {
				continue
			}
			in.Requests = append(in.Requests, scalefixture.Request(name, tpl.Name))
		}
	}
	benchmarkRender(b, in)
}

// BenchmarkRender1000x10Cached renders 1000 clusters x 10 bindings through a
// warm Cache: what the backend pays on every reconcile when little changed.
func BenchmarkRender1000x10Cached(b *testing.B) {
	in := scaleInput(b, 1000, 10)
	c := render.NewCache()
	c.Render(in)
	b.ReportAllocs()
	b.ResetTimer()
	var out render.Output
	for b.Loop() {
		out = c.Render(in)
	}
	b.StopTimer()
	require.Empty(b, out.Problems)
}
