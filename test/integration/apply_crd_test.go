package integration

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/internal/apply"
	"github.com/bindsync/bindsync/internal/testenv"
)

// testCRD returns a cluster-scoped CRD widgets.<group> (kind Widget) with
// bindsync's labels for cluster, and one instance of it.
func testCRD(t *testing.T, group, cluster string) (crd, instance *unstructured.Unstructured) {
	t.Helper()
	objs, err := testenv.DecodeObjects([]byte(`
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.` + group + `
  labels: {bindsync.io/managed: "true", bindsync.io/cluster: ` + cluster + `}
spec:
  group: ` + group + `
  scope: Cluster
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        description: A widget.
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
---
apiVersion: ` + group + `/v1
kind: Widget
metadata:
  name: first
  labels: {bindsync.io/managed: "true", bindsync.io/cluster: ` + cluster + `}
spec:
  size: 3
`))
	require.NoError(t, err)
	require.Len(t, objs, 2)
	return objs[0], objs[1]
}

// TestIntegrationApplyCRDEstablishedBeforeItsInstance applies, as the agent
// will, a CRD and an instance of it in one call: the CRD is applied and
// Established before the instance, a re-apply writes nothing, a hand edit
// of the CRD is set back, a CRD that is not bindsync's is never modified,
// a CRD the API server refuses fails its instances with ErrDependency, and
// Orphan releases a CRD (labels and field ownership dropped, CRD kept) that
// Prune then leaves alone.
func TestIntegrationApplyCRDEstablishedBeforeItsInstance(t *testing.T) {
	t.Parallel()
	_, app := testenv.SharedPair(t)
	ctx := testContext(t)
	const cluster = "apply-crd"

	counter := &writeCounter{}
	agent, err := apply.New(counter.wrap(app.Config), apply.Options{
		FieldManager:    "bindsync-agent",
		PruneSelector:   clusterSelector(t, cluster),
		WaitEstablished: 30 * time.Second,
	})
	require.NoError(t, err)
	crd, widget := testCRD(t, "widgets.apply.bindsync.test", cluster)

	t.Run("CRD and instance in one call: the CRD is Established first", func(t *testing.T) {
		// The instance comes first in the input: Apply orders it.
		res, err := agent.Apply(ctx, []*unstructured.Unstructured{widget.DeepCopy(), crd.DeepCopy()})
		require.NoError(t, err)
		assert.Equal(t, []apply.ObjectRef{apply.RefOf(crd), apply.RefOf(widget)}, res.Created)

		var live apiextensionsv1.CustomResourceDefinition
		require.NoError(t, app.Client.Get(ctx, client.ObjectKey{Name: crd.GetName()}, &live))
		assert.True(t, crdCondition(&live, apiextensionsv1.Established), "the CRD is Established")
		assert.NoError(t, getObject(ctx, app, widget), "the instance exists")
	})

	t.Run("re-apply writes nothing", func(t *testing.T) {
		counter.reset()
		res, err := agent.Apply(ctx, []*unstructured.Unstructured{crd.DeepCopy(), widget.DeepCopy()})
		require.NoError(t, err)
		assert.Len(t, res.Unchanged, 2)
		assert.Empty(t, counter.reset())
	})

	t.Run("a hand edit of the CRD is set back", func(t *testing.T) {
		patch := []byte(`{"spec":{"versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","description":"edited","x-kubernetes-preserve-unknown-fields":true}}}]}}`)
		require.NoError(t, app.Client.Patch(ctx, &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: crd.GetName()}},
			client.RawPatch(types.MergePatchType, patch), client.FieldOwner("kubectl-edit")))

		res, err := agent.Apply(ctx, []*unstructured.Unstructured{crd.DeepCopy()})
		require.NoError(t, err)
		assert.Equal(t, []apply.ObjectRef{apply.RefOf(crd)}, res.Configured)

		var live apiextensionsv1.CustomResourceDefinition
		require.NoError(t, app.Client.Get(ctx, client.ObjectKey{Name: crd.GetName()}, &live))
		s := live.Spec.Versions[0].Schema.OpenAPIV3Schema
		assert.Equal(t, "A widget.", s.Description)
		assert.Nil(t, s.XPreserveUnknownFields)
		assert.Contains(t, s.Properties, "spec")
	})

	t.Run("a CRD that is not bindsync's is never modified", func(t *testing.T) {
		foreign, _ := testCRD(t, "foreign.apply.bindsync.test", cluster)
		unlabelled := foreign.DeepCopy()
		unlabelled.SetLabels(nil)
		require.NoError(t, app.Client.Create(ctx, unlabelled))

		counter.reset()
		res, err := agent.Apply(ctx, []*unstructured.Unstructured{foreign})
		require.ErrorIs(t, err, apply.ErrForeign)
		assert.Equal(t, apply.StepCheck, res.Failed[0].Step)
		assert.Contains(t, err.Error(), "CustomResourceDefinition.apiextensions.k8s.io widgets.foreign.apply.bindsync.test")
		assert.Empty(t, counter.reset(), "nothing written")
		// Its resourceVersion moves as the API server marks it Established,
		// so look at what bindsync would have changed.
		var live apiextensionsv1.CustomResourceDefinition
		require.NoError(t, app.Client.Get(ctx, client.ObjectKey{Name: foreign.GetName()}, &live))
		assert.Empty(t, live.Labels)
		for _, f := range live.ManagedFields {
			assert.NotEqual(t, "bindsync-agent", f.Manager)
		}
	})

	t.Run("a refused CRD fails its instances, not the other objects", func(t *testing.T) {
		bad, badWidget := testCRD(t, "bad.apply.bindsync.test", cluster)
		require.NoError(t, unstructured.SetNestedField(bad.Object, "notwidgets", "spec", "names", "plural"))
		res, err := agent.Apply(ctx, []*unstructured.Unstructured{bad, badWidget, crd.DeepCopy(), widget.DeepCopy()})
		require.Error(t, err)
		require.Len(t, res.Failed, 2)
		assert.Equal(t, apply.StepApply, res.Failed[0].Step)
		assert.True(t, apierrors.IsInvalid(res.Failed[0].Err), "the API server refuses the CRD: %v", res.Failed[0].Err)
		assert.ErrorIs(t, res.Failed[1], apply.ErrDependency)
		assert.Equal(t, apply.RefOf(badWidget), res.Failed[1].Ref)
		assert.Contains(t, res.Failed[1].Error(), "widgets.bad.apply.bindsync.test", "names the CRD it needs")
		assert.Len(t, res.Unchanged, 2, "the good CRD and its instance are still applied")
	})

	t.Run("Orphan releases the CRD and Prune then leaves it", func(t *testing.T) {
		ref := apply.RefOf(crd)
		res, err := agent.Orphan(ctx, []apply.ObjectRef{ref})
		require.NoError(t, err)
		assert.Equal(t, []apply.ObjectRef{ref}, res.Orphaned)

		var live apiextensionsv1.CustomResourceDefinition
		require.NoError(t, app.Client.Get(ctx, client.ObjectKey{Name: crd.GetName()}, &live))
		assert.NotContains(t, live.Labels, "bindsync.io/managed")
		assert.NotContains(t, live.Labels, "bindsync.io/cluster")
		for _, f := range live.ManagedFields {
			assert.NotEqual(t, "bindsync-agent", f.Manager, "bindsync owns no field of the orphaned CRD (%s)", f.Operation)
		}
		assert.Equal(t, "A widget.", live.Spec.Versions[0].Schema.OpenAPIV3Schema.Description, "the spec is kept")
		assert.NoError(t, getObject(ctx, app, widget), "the instance is kept")

		res, err = agent.Prune(ctx, apply.Inventory{Entries: []apply.ObjectRef{ref}}, nil)
		require.NoError(t, err)
		assert.Empty(t, res.Deleted)
		assert.Equal(t, []apply.ObjectRef{ref}, res.Skipped)
		assert.NoError(t, getObject(ctx, app, crd))
	})
}

func crdCondition(crd *apiextensionsv1.CustomResourceDefinition, t apiextensionsv1.CustomResourceDefinitionConditionType) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == t {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}
