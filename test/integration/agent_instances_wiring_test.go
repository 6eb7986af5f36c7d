package integration

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/agent/instances"
	"github.com/bindsync/bindsync/internal/cli/status"
	"github.com/bindsync/bindsync/internal/testenv"
)

// TestIntegrationAgentInstanceSyncWithoutControlPlane: an agent with
// instance sync on (the command's default) and no control-plane kubeconfig
// says on every Ready binding that instances are not synced and why
// (InstancesSynced=False NoControlPlane), and writes nothing more on the
// next pass; with --sync-instances=false a binding has no InstancesSynced
// condition at all: an earlier one is removed.
func TestIntegrationAgentInstanceSyncWithoutControlPlane(t *testing.T) {
	ctx, app := setupAgentTest(t)
	const cluster = "no-control-plane"
	k := testKind{plural: "widgets", kind: "Widget", group: "nocp.agent.bindsync.test", fields: map[string]string{"size": "string"}}
	repo := newStateRepo(t)
	rev := repo.commit(appFolder(cluster, []testKind{k}, nil))
	createBinding(ctx, t, app, k.name(), "")

	run := func(syncInstances bool) *writeCounter {
		t.Helper()
		ag := newTestAgentWith(t, app, repo, agent.Options{Cluster: cluster, SyncInstances: syncInstances})
		_, err := ag.Sync(ctx)
		require.NoError(t, err)
		return ag.writes
	}

	run(true)
	b := getBinding(ctx, t, app, k.name())
	require.Equal(t, metav1.ConditionTrue, condition(b, v1alpha1.ReadyCondition).Status)
	assert.Equal(t, rev, b.Status.LastAppliedRevision)
	cond := condition(b, v1alpha1.InstancesSyncedCondition)
	require.NotNil(t, cond, "a Ready binding says whether its instances are synced")
	assert.Equal(t, metav1.ConditionFalse, cond.Status)
	assert.Equal(t, v1alpha1.NoControlPlaneReason, cond.Reason)
	assert.Equal(t, "instances are not synced: the agent runs without --control-plane-kubeconfig", cond.Message)
	assert.Nil(t, b.Status.Instances)
	assert.Equal(t, metav1.ConditionTrue, condition(b, v1alpha1.ReadyCondition).Status, "the binding stays Ready: the CRD is there")

	assert.Empty(t, run(true).reset(), "a pass with nothing new writes nothing")
	assert.Equal(t, b.ResourceVersion, getBinding(ctx, t, app, k.name()).ResourceVersion)

	run(false)
	b = getBinding(ctx, t, app, k.name())
	assert.Nil(t, condition(b, v1alpha1.InstancesSyncedCondition), "--sync-instances=false: no InstancesSynced condition")
	assert.Equal(t, metav1.ConditionTrue, condition(b, v1alpha1.ReadyCondition).Status)
	assert.Empty(t, run(false).reset(), "and nothing is written again")
}

// idleSyncer is an instance sync that syncs nothing: the test writes the
// binding's status.instances itself, as the Syncer does.
type idleSyncer struct {
	mu   sync.Mutex
	apis []instances.API
}

func (s *idleSyncer) Set(apis []instances.API) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apis = apis
}

func (s *idleSyncer) Release(context.Context, instances.API, v1alpha1.DeletionPolicy) (bool, error) {
	return true, nil
}

// TestIntegrationAgentReportsInstanceCounts: the agent reports each
// binding's instance counts (status.instances, which the Syncer writes)
// onto its APIServiceExport on the control plane, with the cluster's
// ServiceAccount (impersonated) and only when they changed; `bindsync
// status` shows them per cluster and export.
func TestIntegrationAgentReportsInstanceCounts(t *testing.T) {
	ctx := testContext(t)
	const cluster = "team-a"
	cp, app, repo, _ := examplesOnPair(ctx, t, cluster)

	const bound = "postgresqlinstances.anynines.com"
	createBinding(ctx, t, app, bound, "")
	agentSA := cp.ImpersonateConfig(testenv.ServiceAccountUser(v1alpha1.ClusterNamespacePrefix+cluster, "bindsync-agent"))
	syncer := &idleSyncer{}
	ag := newTestAgentWith(t, app, repo, agent.Options{
		Cluster: cluster, ControlPlane: agentSA, SyncInstances: true, Instances: syncer, WaitEstablished: 30 * time.Second,
	})
	sync := func() {
		t.Helper()
		res, err := ag.Sync(ctx)
		require.NoError(t, err)
		require.NoError(t, res.ReportErr)
	}
	export := func() *v1alpha1.APIServiceExport {
		t.Helper()
		var e v1alpha1.APIServiceExport
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: v1alpha1.ClusterNamespacePrefix + cluster, Name: bound}, &e))
		return &e
	}

	sync()
	require.Len(t, syncer.apis, 1, "the Ready binding is synced")
	assert.Equal(t, "v1", syncer.apis[0].GVK.Version)
	assert.Nil(t, export().Status.Instances, "no counts yet")

	// The Syncer's counts, as it writes them on the binding.
	b := getBinding(ctx, t, app, bound)
	b.Status.Instances = &v1alpha1.InstanceCounts{Synced: 38, Failed: 2}
	require.NoError(t, app.Client.Status().Update(ctx, b))
	sync()
	e := export()
	assert.Equal(t, &v1alpha1.InstanceCounts{Synced: 38, Failed: 2}, e.Status.Instances, "the counts reach the control plane")
	assert.Equal(t, &v1alpha1.InstanceCounts{Synced: 38, Failed: 2}, getBinding(ctx, t, app, bound).Status.Instances,
		"the agent leaves the Syncer's counts on the binding")

	sync()
	assert.Equal(t, e.ResourceVersion, export().ResourceVersion, "unchanged counts are not written again")

	row := status.RowOf(export())
	require.NotNil(t, row.Instances)
	assert.Equal(t, int32(38), row.Instances.Synced)
	assert.Equal(t, int32(2), row.Instances.Failed)
	r := bindsyncCLI(t, "status", "--kubeconfig", cp.WriteKubeconfig(t), "--cluster", cluster)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Regexp(t, `(?m)^team-a\s+`+bound+`\s+.*\s38\s+2\s*$`, r.stdout, "bindsync status shows synced and failed per cluster and export")
}
