package integration

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// emptyAppFolder is what render writes for a cluster that binds nothing.
func emptyAppFolder(cluster string) map[string]string {
	return map[string]string{staterepo.AppDir(cluster) + "/kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
labels:
- pairs:
    bindsync.io/cluster: ` + cluster + `
    bindsync.io/managed: "true"
resources: []
`}
}

// TestIntegrationAgentNewClusterWithNothingBound: the folder of a freshly
// onboarded cluster builds to nothing, and that is a clean state, not a
// failed pass (which the agent would log as an error and count as a
// failure, every interval); a binding made before its export arrives waits
// with ExportNotFound. Nothing is removed either way; an empty folder while
// this cluster has managed CRDs is still held as a failed build
// (TestIntegrationAgentRemoval).
func TestIntegrationAgentNewClusterWithNothingBound(t *testing.T) {
	ctx, app := setupAgentTest(t)
	const cluster = "agent-empty"
	repo := newStateRepo(t)
	rev := repo.commit(emptyAppFolder(cluster))
	ag := newTestAgent(t, app, repo, cluster)

	t.Run("nothing bound: the pass succeeds and writes nothing", func(t *testing.T) {
		ag.writes.reset()
		res, err := ag.Sync(ctx)
		require.NoError(t, err, "an empty folder of a cluster with nothing bound is not a failure")
		assert.Equal(t, rev, res.Revision.String())
		assert.Empty(t, res.Applied.Created)
		assert.Empty(t, res.Released.Orphaned)
		assert.Empty(t, res.Released.Deleted)
		assert.Empty(t, res.Refused)
		assert.Empty(t, ag.writes.reset(), "no API write")
	})

	t.Run("a binding made before its export: ExportNotFound, not BuildFailed", func(t *testing.T) {
		k := testKind{plural: "waits", kind: "Wait", group: "empty.agent.bindsync.test", fields: map[string]string{"a": "string"}}
		createBinding(ctx, t, app, k.name(), "")
		_, err := ag.Sync(ctx)
		require.NoError(t, err)
		ready := condition(getBinding(ctx, t, app, k.name()), v1alpha1.ReadyCondition)
		require.NotNil(t, ready)
		assert.Equal(t, metav1.ConditionFalse, ready.Status)
		assert.Equal(t, v1alpha1.ExportNotFoundReason, ready.Reason)
		assert.Contains(t, ready.Message, k.name())
		assert.Nil(t, condition(getBinding(ctx, t, app, k.name()), v1alpha1.StalledCondition), "waiting for an export is not stalled")

		rev2 := repo.commit(appFolder(cluster, []testKind{k}, nil))
		_, err = ag.Sync(ctx)
		require.NoError(t, err)
		b := getBinding(ctx, t, app, k.name())
		assert.Equal(t, metav1.ConditionTrue, condition(b, v1alpha1.ReadyCondition).Status, "the export arrives: applied")
		assert.Equal(t, rev2, b.Status.LastAppliedRevision)
	})
}
