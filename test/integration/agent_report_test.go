package integration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// TestIntegrationAgentReportsBack renders examples/control-plane, applies
// team-a's control-plane folder to a control plane, commits the whole
// rendered tree to a state repository and runs team-a's agent with the
// kubeconfig of team-a's ServiceAccount (impersonated): the bound export
// gets ConsumerInSync and consumerRevision, written with the rendered Role's
// rights only, and the unbound ones are left alone. The agent's CRD is the
// rendered one, Established.
func TestIntegrationAgentReportsBack(t *testing.T) {
	ctx := testContext(t)
	const cluster = "team-a"
	cp, app, repo, rev := examplesOnPair(ctx, t, cluster)

	const bound = "postgresqlinstances.anynines.com"
	createBinding(ctx, t, app, bound, "")
	src, err := source.New(source.Options{URL: repo.url(), Dir: staterepo.AppDir(cluster)})
	require.NoError(t, err)
	agentSA := cp.ImpersonateConfig(testenv.ServiceAccountUser(v1alpha1.ClusterNamespacePrefix+cluster, "bindsync-agent"))
	ag, err := agent.New(app.Config, app.Client, src, agent.Options{
		Cluster: cluster, ControlPlane: agentSA, Events: record.NewFakeRecorder(100), WaitEstablished: 30 * time.Second,
	})
	require.NoError(t, err)
	res, err := ag.Sync(ctx)
	require.NoError(t, err)
	assert.Len(t, res.Refused, 2, "the two exports of team-a without a binding")

	b := getBinding(ctx, t, app, bound)
	assert.Equal(t, metav1.ConditionTrue, condition(b, v1alpha1.ReadyCondition).Status)
	assert.Equal(t, rev, b.Status.LastAppliedRevision)

	var exports v1alpha1.APIServiceExportList
	require.NoError(t, cp.Client.List(ctx, &exports, client.InNamespace(v1alpha1.ClusterNamespacePrefix+cluster)))
	require.Len(t, exports.Items, 3)
	for _, e := range exports.Items {
		cond := findCondition(e.Status.Conditions, v1alpha1.ConsumerInSyncCondition)
		if e.Name != bound {
			assert.Nil(t, cond, "%s has no binding: left alone", e.Name)
			continue
		}
		require.NotNil(t, cond, e.Name)
		assert.Equal(t, metav1.ConditionTrue, cond.Status)
		assert.Equal(t, rev, e.Status.ConsumerRevision)
		assert.Equal(t, e.Spec.SchemaHash, b.Status.BoundSchemaHash, "the app cluster has the export's schema")
	}

	t.Run("the ServiceAccount cannot write another cluster's exports", func(t *testing.T) {
		c, err := client.New(agentSA, client.Options{Scheme: testenv.Scheme()})
		require.NoError(t, err)
		var other v1alpha1.APIServiceExportList
		requireForbidden(t, c.List(ctx, &other, client.InNamespace(v1alpha1.ClusterNamespacePrefix+"team-b")), "listing team-b's exports")
	})
}
