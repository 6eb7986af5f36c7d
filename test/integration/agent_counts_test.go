package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// TestIntegrationAgentReportsInstanceCountsAtOnce: run as `bindsync agent`
// runs it (the manager, an interval far longer than the test), the agent
// copies a binding's new instance counts onto its export when the Syncer
// writes them, without waiting for a pass; so an agent restarted with
// nothing new finds the export up to date and writes nothing on the
// control plane.
func TestIntegrationAgentReportsInstanceCountsAtOnce(t *testing.T) {
	ctx := testContext(t)
	const cluster = "team-a"
	cp, app, repo, _ := examplesOnPair(ctx, t, cluster)

	const bound = "postgresqlinstances.anynines.com"
	createBinding(ctx, t, app, bound, "")
	agentSA := cp.ImpersonateConfig(testenv.ServiceAccountUser(v1alpha1.ClusterNamespacePrefix+cluster, "bindsync-agent"))
	export := func() *v1alpha1.APIServiceExport {
		t.Helper()
		var e v1alpha1.APIServiceExport
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: v1alpha1.ClusterNamespacePrefix + cluster, Name: bound}, &e))
		return &e
	}
	// run starts the agent's manager; its control-plane requests go through
	// counter.
	run := func(counter *writeCounter) (stop func()) {
		t.Helper()
		src, err := source.New(source.Options{URL: repo.url(), Dir: staterepo.AppDir(cluster)})
		require.NoError(t, err)
		mgr, _, err := agent.NewManager(app.Config, src, agent.Options{
			Cluster: cluster, ControlPlane: counter.wrap(agentSA), SyncInstances: true, Instances: &idleSyncer{},
			WaitEstablished: 30 * time.Second,
		}, agent.RunOptions{Interval: time.Hour, MetricsBindAddress: "0", HealthProbeBindAddress: "0"})
		require.NoError(t, err)
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- mgr.Start(mctx) }()
		stopped := false
		stop = func() {
			if !stopped {
				stopped = true
				cancel()
				assert.NoError(t, <-done)
			}
		}
		t.Cleanup(stop)
		return stop
	}

	stop := run(&writeCounter{})
	waitUntil(t, 60*time.Second, func() error {
		if c := findCondition(export().Status.Conditions, v1alpha1.ConsumerInSyncCondition); c == nil || c.Status != "True" {
			return fmt.Errorf("ConsumerInSync is %+v", c)
		}
		return nil
	})

	// The Syncer's counts, as it writes them on the binding: on the export
	// within seconds, with the next pass an hour away.
	b := getBinding(ctx, t, app, bound)
	b.Status.Instances = &v1alpha1.InstanceCounts{Synced: 38, Failed: 2, Restored: 1}
	require.NoError(t, app.Client.Status().Update(ctx, b))
	waitUntil(t, 20*time.Second, func() error {
		if got := export().Status.Instances; got == nil || *got != *b.Status.Instances {
			return fmt.Errorf("the export's counts are %+v, want %+v", got, b.Status.Instances)
		}
		return nil
	})
	stop()

	// Restarted with nothing new: its first pass reports nothing.
	rv := export().ResourceVersion
	counter := &writeCounter{}
	run(counter)
	waitUntil(t, 60*time.Second, func() error {
		if counter.readCount() == 0 {
			return fmt.Errorf("the restarted agent has not read its exports yet")
		}
		return nil
	})
	time.Sleep(5 * time.Second) // its first pass is done
	assert.Empty(t, counter.writeList(), "control-plane writes of a restarted agent with nothing new")
	assert.Equal(t, rv, export().ResourceVersion, "the export was not written")
}

func (c *writeCounter) readCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads
}

func (c *writeCounter) writeList() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.writes...)
}

// waitUntil retries fn until it returns nil, and fails with its last error.
func waitUntil(t *testing.T, d time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
