package instances_test

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent/instances"
)

// BenchmarkIntegrationInstanceSync measures the sync on real API servers
// (once, whatever b.N): BINDSYNC_BENCH_INSTANCES objects (2,000) in 50 app
// namespaces across 10 bound APIs, created at once by 16 clients, against
// the time the same 16 clients take to create the same objects directly on
// the control plane; then, on the idle system, create -> copy and copy
// status -> app object for one object (medians of 11), the writes of
// idle resyncs, and those of a new syncer (empty caches) with nothing new. The app namespaces have their control-plane namespaces
// already (one object each first): assigning a namespace is the backend's
// git round trip, measured in docs/backend.md.
func BenchmarkIntegrationInstanceSync(b *testing.B) {
	total := 2000
	if v, err := strconv.Atoi(os.Getenv("BINDSYNC_BENCH_INSTANCES")); err == nil && v > 0 {
		total = v
	}
	const namespaces, apis, clients = 50, 10, 16
	const resync = 3 * time.Second
	bound := apis // BINDSYNC_BENCH_APIS: more bound APIs, without instances
	if v, err := strconv.Atoi(os.Getenv("BINDSYNC_BENCH_APIS")); err == nil && v > apis {
		bound = v
	}
	f := newFixtureAPIs(b, "bench", false, bound, false)
	var nss []string
	for i := range namespaces {
		ns := fmt.Sprintf("bench-%02d", i)
		nss = append(nss, ns)
		f.createNamespace(f.app, ns)
		f.createNamespace(f.cp, "direct-"+ns)
	}
	copies := f.countCopies()
	f.startSyncer(resync)
	for _, ns := range nss {
		f.createApp(f.database(ns, "warmup", "small", ""))
	}
	copies.wait(b, namespaces)

	objs := make([]*unstructured.Unstructured, total)
	for i := range objs {
		o := f.database(nss[i%namespaces], fmt.Sprintf("db-%04d", i), "small", "")
		o.SetGroupVersionKind(f.apis[i%apis].GVK)
		objs[i] = o
	}
	begin := time.Now()
	parallel(clients, objs, func(o *unstructured.Unstructured) error {
		_, err := f.appDyn.Resource(f.gvrs[slices.IndexFunc(f.apis, func(a instances.API) bool { return a.GVK == o.GroupVersionKind() })]).
			Namespace(o.GetNamespace()).Create(f.ctx, o, metav1.CreateOptions{})
		return err
	})
	created := time.Since(begin)
	copies.wait(b, namespaces+total)
	synced := time.Since(begin)

	begin = time.Now()
	parallel(clients, objs, func(o *unstructured.Unstructured) error {
		d := o.DeepCopy()
		d.SetNamespace("direct-" + o.GetNamespace())
		_, err := f.cpDyn.Resource(f.gvrs[slices.IndexFunc(f.apis, func(a instances.API) bool { return a.GVK == o.GroupVersionKind() })]).
			Namespace(d.GetNamespace()).Create(f.ctx, d, metav1.CreateOptions{})
		return err
	})
	direct := time.Since(begin)

	// One object at a time on the idle system.
	var up, down []time.Duration
	for i := range 11 {
		name := fmt.Sprintf("idle-%02d", i)
		t0 := time.Now()
		f.createApp(f.database(nss[0], name, "small", ""))
		poll(b, func() error { _, err := f.copyOf(nss[0], name); return err })
		up = append(up, time.Since(t0))

		c, err := f.copyOf(nss[0], name)
		require.NoError(b, err)
		c.Object["status"] = map[string]any{"phase": "Ready"}
		t0 = time.Now()
		_, err = f.cpDyn.Resource(f.gvr).Namespace(c.GetNamespace()).UpdateStatus(f.ctx, c, metav1.UpdateOptions{})
		require.NoError(b, err)
		poll(b, func() error {
			a, err := f.appObject(nss[0], name)
			if err != nil {
				return err
			}
			if p, _, _ := unstructured.NestedString(a.Object, "status", "phase"); p != "Ready" {
				return fmt.Errorf("no status yet")
			}
			return nil
		})
		down = append(down, time.Since(t0))
	}

	time.Sleep(resync)
	cpBefore, appBefore := f.cpWrites.Load(), f.appWrites.Load()
	time.Sleep(2 * resync)
	idleWrites := f.cpWrites.Load() - cpBefore + f.appWrites.Load() - appBefore

	// A new syncer (empty caches) with nothing new: its writes until idle.
	f.stop()
	cpBefore, appBefore, logged := f.cpWrites.Load(), f.appWrites.Load(), f.writes.len()
	begin = time.Now()
	f.startSyncer(resync)
	time.Sleep(20 * time.Second)
	restartCP, restartApp := f.cpWrites.Load()-cpBefore, f.appWrites.Load()-appBefore
	b.Logf("restarted with empty caches, %d synced instances, nothing new: writes in %s: control plane %d, app cluster %d %v",
		total+namespaces+11, time.Since(begin).Round(time.Second), restartCP, restartApp, f.writes.since(logged))

	runtime.GC()
	if path := os.Getenv("BINDSYNC_BENCH_HEAP_PROFILE"); path != "" {
		fh, err := os.Create(path)
		require.NoError(b, err)
		require.NoError(b, pprof.WriteHeapProfile(fh))
		require.NoError(b, fh.Close())
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	b.ReportMetric(synced.Seconds(), "sync-s")
	b.ReportMetric(created.Seconds(), "app-create-s")
	b.ReportMetric(direct.Seconds(), "direct-s")
	b.ReportMetric(synced.Seconds()/direct.Seconds(), "ratio")
	b.ReportMetric(float64(median(up).Milliseconds()), "create-to-copy-ms")
	b.ReportMetric(float64(median(down).Milliseconds()), "status-to-app-ms")
	b.ReportMetric(float64(idleWrites), "idle-resync-writes")
	b.ReportMetric(float64(restartCP+restartApp), "restart-writes")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "test-process-heap-MB")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
	b.Logf("%d bound APIs; heap in use %d MB, %d goroutines (the whole test process)", bound, ms.HeapInuse>>20, runtime.NumGoroutine())
	b.Logf("%d instances, %d namespaces, %d APIs: app creates %s, every copy after %s; direct creates %s; ratio %.2f; create->copy median %s; status->app median %s; idle resync writes %d",
		total, namespaces, apis, created.Round(time.Millisecond), synced.Round(time.Millisecond), direct.Round(time.Millisecond), synced.Seconds()/direct.Seconds(),
		median(up), median(down), idleWrites)
}

// copyCounter counts the copies of the cluster that exist, from watches
// (polling lists of thousands of objects would load the control plane
// being measured).
type copyCounter struct {
	mu    sync.Mutex
	names map[string]bool
}

func (f *fixture) countCopies() *copyCounter {
	c := &copyCounter{names: map[string]bool{}}
	for _, gvr := range f.gvrs {
		w, err := f.cpDyn.Resource(gvr).Watch(f.ctx, metav1.ListOptions{LabelSelector: v1alpha1.ClusterLabel + "=" + f.cluster})
		require.NoError(f.t, err)
		go func() {
			for ev := range w.ResultChan() {
				if m, ok := ev.Object.(*unstructured.Unstructured); ok {
					c.mu.Lock()
					c.names[gvr.Group+"/"+m.GetNamespace()+"/"+m.GetName()] = true
					c.mu.Unlock()
				}
			}
		}()
		f.t.Cleanup(w.Stop)
	}
	return c
}

// wait waits until n copies were seen.
func (c *copyCounter) wait(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		c.mu.Lock()
		got := len(c.names)
		c.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d copies after 5 minutes", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func parallel(n int, objs []*unstructured.Unstructured, fn func(*unstructured.Unstructured) error) {
	ch := make(chan *unstructured.Unstructured)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for o := range ch {
				for range 20 {
					if err := fn(o); err == nil || apierrors.IsAlreadyExists(err) {
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	for _, o := range objs {
		ch <- o
	}
	close(ch)
	wg.Wait()
}

// poll is eventually with a 5 ms period, for latencies.
func poll(t testing.TB, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for err := fn(); err != nil; err = fn() {
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
