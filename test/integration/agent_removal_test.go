package integration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// TestIntegrationAgentRemoval: an export removed from git while instances
// exist leaves the CRD and its instances, without bindsync's labels, and the
// binding says so; an empty or broken folder removes nothing; a binding
// deleted with deletionPolicy Delete deletes its CRD only once it has no
// instances, and says so until then.
func TestIntegrationAgentRemoval(t *testing.T) {
	ctx, app := setupAgentTest(t)
	const cluster = "agent-removal"
	kept := testKind{plural: "keeps", kind: "Keep", group: "removal.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	deleted := testKind{plural: "drops", kind: "Drop", group: "removal.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	repo := newStateRepo(t)
	repo.commit(appFolder(cluster, []testKind{kept, deleted}, nil))
	createBinding(ctx, t, app, kept.name(), "")
	createBinding(ctx, t, app, deleted.name(), v1alpha1.DeletionDelete)
	ag := newTestAgent(t, app, repo, cluster)
	_, err := ag.Sync(ctx)
	require.NoError(t, err)

	instance := func(k testKind, name string) *unstructured.Unstructured {
		objs, err := testenvDecode("apiVersion: " + k.group + "/v1\nkind: " + k.kind + "\nmetadata: {name: " + name + ", namespace: default}\nspec: {a: x}\n")
		require.NoError(t, err)
		return objs[0]
	}
	keptInstance := instance(kept, "first")
	require.NoError(t, app.ApplyObjects(ctx, []*unstructured.Unstructured{keptInstance}))

	t.Run("an empty or broken folder removes nothing", func(t *testing.T) {
		for name, files := range map[string]map[string]string{
			"empty folder": {"clusters/" + cluster + "/app/kustomization.yaml": "resources: []\n"},
			"no folder":    {"README.md": "nothing\n"},
		} {
			repo.commit(files)
			_, err := ag.Sync(ctx)
			require.Error(t, err, name)
			crd, err := getCRD(ctx, t, app, kept.name())
			require.NoError(t, err, name)
			assert.Equal(t, cluster, crd.Labels[v1alpha1.ClusterLabel], "%s: still managed", name)
			assert.Equal(t, v1alpha1.BuildFailedReason, condition(getBinding(ctx, t, app, kept.name()), v1alpha1.ReadyCondition).Reason, name)
		}
	})

	t.Run("export removed while instances exist: CRD and instances kept, labels dropped", func(t *testing.T) {
		repo.commit(appFolder(cluster, []testKind{deleted}, nil))
		res, err := ag.Sync(ctx)
		require.NoError(t, err)
		assert.Len(t, res.Released.Orphaned, 1)
		crd, err := getCRD(ctx, t, app, kept.name())
		require.NoError(t, err)
		assert.NotContains(t, crd.Labels, v1alpha1.ClusterLabel)
		assert.NotContains(t, crd.Labels, v1alpha1.ManagedLabel)
		for _, mf := range crd.ManagedFields {
			assert.NotEqual(t, "bindsync-agent", mf.Manager, "field ownership dropped")
		}
		assert.NoError(t, getObject(ctx, app, keptInstance), "the instance is kept")
		ready := condition(getBinding(ctx, t, app, kept.name()), v1alpha1.ReadyCondition)
		assert.Equal(t, v1alpha1.ExportNotFoundReason, ready.Reason)
		assert.Contains(t, ready.Message, "orphaned")
	})

	t.Run("Delete policy with instances keeps the CRD and says so; without instances deletes it", func(t *testing.T) {
		inst := instance(deleted, "blocker")
		require.NoError(t, app.ApplyObjects(ctx, []*unstructured.Unstructured{inst}))
		require.NoError(t, app.Client.Delete(ctx, getBinding(ctx, t, app, deleted.name())))
		_, err := ag.Sync(ctx)
		require.NoError(t, err)
		_, err = getCRD(ctx, t, app, deleted.name())
		require.NoError(t, err, "kept while an instance exists")
		b := getBinding(ctx, t, app, deleted.name())
		assert.Equal(t, v1alpha1.InstancesExistReason, condition(b, v1alpha1.ReadyCondition).Reason)

		require.NoError(t, app.Client.Delete(ctx, inst))
		require.Eventually(t, func() bool { return apierrors.IsNotFound(getObject(ctx, app, inst)) }, 10*time.Second, 50*time.Millisecond)
		_, err = ag.Sync(ctx)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			_, err := getCRD(ctx, t, app, deleted.name())
			return apierrors.IsNotFound(err)
		}, 10*time.Second, 100*time.Millisecond, "the CRD is deleted")
		var b2 v1alpha1.APIServiceBinding
		err = app.Client.Get(ctx, clientKey(deleted.name()), &b2)
		assert.True(t, apierrors.IsNotFound(err), "the binding is gone: %v", err)
	})
}
