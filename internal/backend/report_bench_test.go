package backend

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/testenv"
)

var firstReconcileClusters = flag.Int("bench-clusters", 1000, "AppClusters in BenchmarkFirstReconcile (10 requests each)")

// BenchmarkFirstReconcile is the first reconcile of a backend facing
// -bench-clusters AppClusters with 10 requests each, in process, against
// the fake client and repository: the status of every request is written
// and an event recorded for each. It reports the heap it needed beyond the
// objects the client holds (peak-heap-MB, sampled every 5 ms), what the
// reconciler keeps once it returned (retained-MB), the status writes and
// the events. The process figures are test/scale's (docs/scale.md); this
// one shows the effect of a change on the report phase in a minute.
//
//	go test -run '^$' -bench FirstReconcile -benchtime=1x ./internal/backend/
func BenchmarkFirstReconcile(b *testing.B) {
	for range b.N {
		b.StopTimer()
		c, patches := scaleWorld(b, *firstReconcileClusters, 10)
		rec := &countingRecorder{}
		rc, err := New(Options{Client: c, APIReader: c, Repo: newFakeRepo(), Applier: &fakeApplier{}, Recorder: rec})
		require.NoError(b, err)
		base := liveHeap()
		peak := watchHeap()
		b.StartTimer()

		_, err = rc.Reconcile(context.Background(), stateKey)

		b.StopTimer()
		require.NoError(b, err)
		top := peak()
		retained := liveHeap()
		runtime.KeepAlive(rc)
		var l v1alpha1.APIServiceExportRequestList
		require.NoError(b, c.List(context.Background(), &l))
		ready := 0
		for _, q := range l.Items {
			if meta.IsStatusConditionTrue(q.Status.Conditions, v1alpha1.ReadyCondition) {
				ready++
			}
		}
		require.Equal(b, len(l.Items), ready, "every request Ready")
		b.ReportMetric(float64(top-base)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(retained-base)/(1<<20), "retained-MB")
		b.ReportMetric(float64(patches.Load()), "status-writes")
		b.ReportMetric(float64(rec.n.Load()), "events")
	}
}

// scaleWorld is a fake client holding the Klutch CRDs, one template per
// CRD (the first 10), n AppClusters and perCluster requests in each.
func scaleWorld(b *testing.B, n, perCluster int) (client.Client, *atomic.Int64) {
	dir := filepath.Join("..", "..", "testdata", "crds", "klutch")
	entries, err := os.ReadDir(dir)
	require.NoError(b, err)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var objs []client.Object
	var tpls []string
	for _, e := range entries[:10] {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(b, err)
		crd := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(b, yaml.Unmarshal(data, crd))
		tpl := &v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: crd.Spec.Names.Singular, UID: types.UID("t-" + crd.Name)},
			Spec: v1alpha1.APIServiceExportTemplateSpec{Resources: []v1alpha1.GroupResource{{Group: crd.Spec.Group, Resource: crd.Spec.Names.Plural}}}}
		objs = append(objs, crd, tpl)
		tpls = append(tpls, tpl.Name)
	}
	for i := range n {
		cluster := fmt.Sprintf("c%04d", i)
		objs = append(objs, &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster, UID: types.UID("uid-" + cluster)}})
		for j := range perCluster {
			tpl := tpls[j%len(tpls)]
			objs = append(objs, &v1alpha1.APIServiceExportRequest{
				ObjectMeta: metav1.ObjectMeta{Name: tpl, Namespace: v1alpha1.ClusterNamespace(cluster), UID: types.UID(cluster + "-" + tpl)},
				Spec:       v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: tpl}}})
		}
	}
	var patches atomic.Int64
	c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).
		WithStatusSubresource(&v1alpha1.APIServiceExportRequest{}, &v1alpha1.APIServiceExportTemplate{}, &v1alpha1.AppCluster{}).
		WithObjects(objs...).Build()
	return &patchCounter{Client: c, n: &patches}, &patches
}

// patchCounter counts status patches.
type patchCounter struct {
	client.Client
	n *atomic.Int64
}

func (c *patchCounter) Status() client.SubResourceWriter {
	return &countedStatus{SubResourceWriter: c.Client.Status(), n: c.n}
}

type countedStatus struct {
	client.SubResourceWriter
	n *atomic.Int64
}

func (s *countedStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.n.Add(1)
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

type countingRecorder struct{ n atomic.Int64 }

func (r *countingRecorder) Eventf(_, _ kruntime.Object, _, _, _, _ string, _ ...any) { r.n.Add(1) }

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// watchHeap samples the heap's objects (live or not yet collected) every
// 5 ms until the returned function is called, which returns the highest.
func watchHeap() func() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var top atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > top.Load() {
				top.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); <-done; return top.Load() }
}
