package integration

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// TestIntegrationAgentSyncsBoundCRDs follows one app cluster through the
// life of a binding: the first sync applies the bound CRD exactly as git
// holds it and makes the binding Ready with the revision and hash; an export
// without a binding is not applied; a schema change in a new commit updates
// the CRD and grows the history; a pass with nothing new fetches nothing and
// writes nothing; a hand edit is set back.
func TestIntegrationAgentSyncsBoundCRDs(t *testing.T) {
	ctx, app := setupAgentTest(t)
	const cluster = "agent-sync"
	bound := testKind{plural: "widgets", kind: "Widget", group: "sync.agent.bindsync.test", fields: map[string]string{"size": "integer"}}
	unbound := testKind{plural: "gadgets", kind: "Gadget", group: "sync.agent.bindsync.test", fields: map[string]string{"color": "string"}}
	repo := newStateRepo(t)
	rev1 := repo.commit(appFolder(cluster, []testKind{bound, unbound}, nil))
	createBinding(ctx, t, app, bound.name(), "")
	ag := newTestAgent(t, app, repo, cluster)

	t.Run("first sync applies the bound CRD and the binding is Ready with that revision", func(t *testing.T) {
		res, err := ag.Sync(ctx)
		require.NoError(t, err)
		assert.True(t, res.Fetched)
		assert.Equal(t, rev1, res.Revision.String())

		crd, err := getCRD(ctx, t, app, bound.name())
		require.NoError(t, err)
		assert.True(t, crdCondition(crd, apiextensionsv1.Established))
		assert.Equal(t, map[string]string{v1alpha1.ManagedLabel: "true", v1alpha1.ClusterLabel: cluster}, crd.Labels)
		assert.Equal(t, bound.hash(), crd.Annotations[v1alpha1.SchemaHashAnnotation])
		require.Len(t, crd.Spec.Versions, 1)
		assert.Equal(t, []string{"size"}, keysOf(crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties))

		b := getBinding(ctx, t, app, bound.name())
		ready := condition(b, v1alpha1.ReadyCondition)
		require.NotNil(t, ready)
		assert.Equal(t, metav1.ConditionTrue, ready.Status)
		assert.Equal(t, b.Generation, ready.ObservedGeneration, "kubectl wait reads Ready of this generation")
		assert.Equal(t, b.Generation, b.Status.ObservedGeneration)
		assert.Equal(t, metav1.ConditionTrue, condition(b, v1alpha1.SchemaInSyncCondition).Status)
		assert.Nil(t, condition(b, v1alpha1.ReconcilingCondition), "Reconciling only while true")
		assert.Nil(t, condition(b, v1alpha1.StalledCondition), "Stalled only while true")
		assert.Equal(t, rev1, b.Status.LastAppliedRevision)
		assert.Equal(t, rev1, b.Status.LastAttemptedRevision)
		assert.Equal(t, bound.hash(), b.Status.BoundSchemaHash)
		assert.Equal(t, bound.name(), b.Status.CRDName)
		require.Len(t, b.Status.History, 1)
		assert.Equal(t, rev1, b.Status.History[0].Revision)
		assert.Contains(t, b.Finalizers, v1alpha1.AgentFinalizer)
	})

	t.Run("an export without a binding is not applied, and is reported with its file", func(t *testing.T) {
		_, err := getCRD(ctx, t, app, unbound.name())
		assert.True(t, apierrors.IsNotFound(err), "got %v", err)
		event := <-ag.events.Events
		assert.Contains(t, event, v1alpha1.RefusedReason)
		assert.Contains(t, event, unbound.name())
		assert.Contains(t, event, "clusters/"+cluster+"/app/crds/"+unbound.name()+".yaml")
	})

	changed := bound
	changed.fields = map[string]string{"size": "integer", "color": "string"}
	var rev2 string
	t.Run("a schema change in a new commit updates the CRD", func(t *testing.T) {
		rev2 = repo.commit(appFolder(cluster, []testKind{changed, unbound}, nil))
		res, err := ag.Sync(ctx)
		require.NoError(t, err)
		assert.True(t, res.Fetched)

		crd, err := getCRD(ctx, t, app, bound.name())
		require.NoError(t, err)
		assert.Equal(t, []string{"color", "size"}, keysOf(crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties))
		b := getBinding(ctx, t, app, bound.name())
		assert.Equal(t, changed.hash(), b.Status.BoundSchemaHash)
		assert.Equal(t, rev2, b.Status.LastAppliedRevision)
		assert.Equal(t, metav1.ConditionTrue, condition(b, v1alpha1.SchemaInSyncCondition).Status)
		require.Len(t, b.Status.History, 2, "history grows")
		assert.Equal(t, []string{rev2, rev1}, []string{b.Status.History[0].Revision, b.Status.History[1].Revision})
	})

	t.Run("a pass with nothing new fetches nothing and writes nothing", func(t *testing.T) {
		lists, fetches := ag.src.Stats()
		ag.writes.reset()
		res, err := ag.Sync(ctx)
		require.NoError(t, err)
		assert.False(t, res.Fetched)
		assert.Empty(t, ag.writes.reset(), "API writes")
		l, f := ag.src.Stats()
		assert.Equal(t, lists+1, l, "one ls-remote")
		assert.Equal(t, fetches, f, "no fetch")
	})

	t.Run("a hand edit of the CRD is set back", func(t *testing.T) {
		patch := []byte(`{"spec":{"versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}]}}`)
		require.NoError(t, app.Client.Patch(ctx, &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: bound.name()}},
			client.RawPatch(types.MergePatchType, patch), client.FieldOwner("kubectl-edit")))
		res, err := ag.Sync(ctx)
		require.NoError(t, err)
		assert.Len(t, res.Applied.Configured, 1)
		crd, err := getCRD(ctx, t, app, bound.name())
		require.NoError(t, err)
		s := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
		assert.Nil(t, s.XPreserveUnknownFields)
		assert.Equal(t, []string{"color", "size"}, keysOf(s.Properties["spec"].Properties))
	})
}

func keysOf[V any](m map[string]V) []string { return sortedKeys(m) }
