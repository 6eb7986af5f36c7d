package agentbench

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// BenchmarkNoOpReconcile times a pass with nothing new over 211 bound CRDs
// that are in sync: the head has not moved, nobody edited a CRD, no binding
// changed. Every pass must make no API write (counted by a RoundTripper
// wrapping every client of the agent), one ls-remote and no fetch (the
// source's counters); the benchmark fails otherwise, and reports the counts
// per pass. The first pass after the cold sync, which compares every CRD in
// full, is timed apart (first-pass-s); ns/op is the passes after it.
func BenchmarkNoOpReconcile(b *testing.B) {
	ctx := context.Background()
	crds := benchCRDs(b, syntheticCRDs)
	names := crdNames(crds)
	remote := newGitRemote(b)
	remote.commit(renderTree(b, renderInput(crds)), "state")
	remote.push()
	app := newApp(ctx, b)
	createBindings(ctx, b, app, names)

	counter := &writeCounter{}
	cfg := counter.wrap(agent.ClientConfig(kubeconfigConfig(b, app.WriteKubeconfig(b)))) // as NewManager does
	src, err := source.New(source.Options{URL: remote.url(), Dir: staterepo.AppDir(benchCluster)})
	require.NoError(b, err)
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	require.NoError(b, err)
	a, err := agent.New(cfg, c, src, agent.Options{Cluster: benchCluster, WaitEstablished: 2 * time.Minute})
	require.NoError(b, err)
	res, err := a.Sync(ctx)
	require.NoError(b, err)
	require.Len(b, res.Applied.Created, len(names), "the cold sync creates every CRD")
	require.NotEmpty(b, counter.reset(), "the cold sync writes (the counter counts)")

	var passes, writes, lists, fetches int64
	lists0, fetches0 := src.Stats()
	noOp := func() {
		res, err := a.Sync(ctx)
		require.NoError(b, err)
		require.False(b, res.Fetched)
		require.Len(b, res.Applied.Unchanged, len(names))
		got := counter.reset()
		require.Empty(b, got, "a pass with nothing new writes nothing")
		writes += int64(len(got))
		passes++
	}
	// The first pass after the cold sync compares every CRD in full (a read
	// and a dry run each); from then on the applier remembers them in sync.
	begin := time.Now()
	noOp()
	first := time.Since(begin)
	for b.Loop() {
		noOp()
	}
	l, f := src.Stats()
	lists, fetches = l-lists0, f-fetches0
	require.Equal(b, passes, lists, "one ls-remote a pass")
	require.Zero(b, fetches, "no fetch")
	b.ReportMetric(float64(writes)/float64(passes), "api-writes/op")
	b.ReportMetric(float64(lists)/float64(passes), "ls-remote/op")
	b.ReportMetric(float64(fetches)/float64(passes), "fetches/op")
	b.ReportMetric(first.Seconds(), "first-pass-s")
	b.Logf("%d no-op passes over %d CRDs: %d API writes, %d ls-remote, %d fetches; the first, comparing every CRD in full, took %s; %s",
		passes, len(names), writes, lists, fetches, first.Round(time.Millisecond), uptime())
}
