package instances_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/bindsync/bindsync/internal/agent/instances"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/testenv"
)

// Each cache the sync keeps (one per bound API in the app cluster, one per
// (resource, instance namespace) pair in use on the control plane, the
// claimed resources') costs a few goroutines, the watch's own, and nothing
// per API beyond them: an agent with 200 bound APIs in 50 namespaces keeps
// about 800 caches. Measured on real API servers: 20 bound APIs with one
// synced instance each in one namespace (41 caches more than with no API).
func TestIntegrationGoroutinesPerCache(t *testing.T) {
	const n = 20
	f := newFixtureAPIs(t, "light", false, n, false)
	ns := "light-shop"
	f.createNamespace(f.app, ns)

	cpCfg := f.cp.ImpersonateConfig(testenv.ServiceAccountUser("bindsync-"+f.cluster, "bindsync-agent"))
	s, err := instances.New(instances.Options{Cluster: f.cluster, App: rest.CopyConfig(f.app.Config), ControlPlane: cpCfg})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	s.Set(nil)
	before := settledGoroutines(t)

	s.Set(f.apis)
	for i, a := range f.apis {
		o := f.database(ns, fmt.Sprintf("db-%02d", i), "small", "")
		o.SetGroupVersionKind(a.GVK)
		_, err := f.appDyn.Resource(f.gvrs[i]).Namespace(ns).Create(f.ctx, o, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	for i, gvr := range f.gvrs {
		eventually(t, time.Minute, func() error {
			_, err := f.cpDyn.Resource(gvr).Namespace(render.InstanceNamespace(f.cluster, ns)).Get(f.ctx, fmt.Sprintf("db-%02d", i), metav1.GetOptions{})
			return err
		})
	}
	after := settledGoroutines(t)

	// n app-side caches, n control-plane pairs, Secrets and ConfigMaps of
	// the instance namespace on the control plane, ConfigMaps in the app
	// cluster (consumer-owned claim).
	caches := 2*n + 3
	perCache := float64(after-before) / float64(caches)
	t.Logf("%d goroutines with no API, %d with %d APIs synced (%d caches): %.1f per cache", before, after, n, caches, perCache)
	require.LessOrEqual(t, perCache, 4.5, "goroutines per cache (the watch's own: the reflector, its resync wait, the decoder, the HTTP/2 stream)")
}

// settledGoroutines returns the process's goroutine count once it has not
// changed for a second.
func settledGoroutines(t *testing.T) int {
	t.Helper()
	last, since := runtime.NumGoroutine(), time.Now()
	deadline := time.Now().Add(30 * time.Second)
	for time.Since(since) < time.Second && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if g := runtime.NumGoroutine(); g != last {
			last, since = g, time.Now()
		}
	}
	return last
}
