package integration

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/internal/apply"
	"github.com/bindsync/bindsync/internal/testenv"
)

// controlPlaneKinds are the kinds a rendered control-plane folder holds, as
// the backend would list them for PruneByLabels.
var controlPlaneKinds = []schema.GroupVersionKind{
	{Version: "v1", Kind: "Namespace"},
	{Version: "v1", Kind: "ServiceAccount"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"},
	{Group: "bindsync.io", Version: "v1alpha1", Kind: "APIServiceExport"},
}

// TestIntegrationApplyControlPlaneFolder applies the rendered
// clusters/team-a/control-plane folder of examples/control-plane to a real
// control plane as the backend does, and walks through what the backend
// relies on: a re-apply writes nothing, a changed Role is updated, fields
// changed by hand are set back, an export that leaves git is pruned, an
// object someone else created is never modified or pruned, and a cluster
// folder that vanished is pruned by label without touching another
// cluster's objects. It has its own API server: it edits and deletes the
// objects the other tests read from the shared one.
func TestIntegrationApplyControlPlaneFolder(t *testing.T) {
	t.Parallel()
	cp := testenv.Start(t, "apply-control-plane")
	ctx := testContext(t)
	installBindsyncCRDs(ctx, t, cp)

	counter := &writeCounter{}
	base, err := apply.New(counter.wrap(cp.Config), apply.Options{
		FieldManager:  "bindsync-backend",
		PruneSelector: labels.SelectorFromSet(labels.Set{"bindsync.io/managed": "true"}),
	})
	require.NoError(t, err)
	teamA := base.WithPruneSelector(labels.SelectorFromSet(labels.Set{"bindsync.io/cluster": "team-a"}))
	teamB := base.WithPruneSelector(labels.SelectorFromSet(labels.Set{"bindsync.io/cluster": "team-b"}))

	objsA := renderedControlPlane(t, "team-a")
	objsB := renderedControlPlane(t, "team-b")
	role := client.ObjectKey{Namespace: "bindsync-team-a", Name: "bindsync-agent"}

	t.Run("first apply creates every object in dependency order", func(t *testing.T) {
		counter.reset()
		res, err := teamA.Apply(ctx, objsA)
		require.NoError(t, err)
		assert.ElementsMatch(t, refsOf(objsA), res.Created)
		assert.Empty(t, res.Configured)
		assert.Empty(t, res.Unchanged)
		require.NotEmpty(t, res.Created)
		assert.Equal(t, "Namespace", res.Created[0].Kind, "the namespace comes first")
		assert.Equal(t, "ServiceAccount", res.Created[1].Kind, "then the ServiceAccount")
		assert.Equal(t, "APIServiceExport", res.Created[len(res.Created)-1].Kind, "exports come after RBAC")
		assert.Len(t, counter.reset(), len(objsA), "one write per object")

		_, err = teamB.Apply(ctx, objsB)
		require.NoError(t, err)
	})

	t.Run("re-apply is a no-op with zero writes", func(t *testing.T) {
		before := resourceVersions(ctx, t, cp, objsA)
		counter.reset()
		res, err := teamA.Apply(ctx, objsA)
		require.NoError(t, err)
		assert.ElementsMatch(t, refsOf(objsA), res.Unchanged)
		assert.Empty(t, res.Created)
		assert.Empty(t, res.Configured)
		assert.False(t, res.Changed())
		assert.Empty(t, counter.reset(), "a no-op apply makes no write request")
		assert.Equal(t, before, resourceVersions(ctx, t, cp, objsA), "no resourceVersion moved")
	})

	t.Run("a changed Role is updated and only it is written", func(t *testing.T) {
		changed := deepCopyAll(objsA)
		r := findObject(t, changed, "Role", "bindsync-agent")
		rules, _, _ := unstructured.NestedSlice(r.Object, "rules")
		require.NotEmpty(t, rules)
		require.NoError(t, unstructured.SetNestedSlice(r.Object, rules[1:], "rules"))

		counter.reset()
		res, err := teamA.Apply(ctx, changed)
		require.NoError(t, err)
		assert.Equal(t, []apply.ObjectRef{apply.RefOf(r)}, res.Configured)
		assert.Len(t, res.Unchanged, len(objsA)-1)
		assert.Len(t, counter.reset(), 1, "one write: the Role")

		var live rbacv1.Role
		require.NoError(t, cp.Client.Get(ctx, role, &live))
		assert.Len(t, live.Rules, len(rules)-1, "the rule git dropped is gone")

		res, err = teamA.Apply(ctx, objsA)
		require.NoError(t, err)
		assert.Equal(t, []apply.ObjectRef{apply.RefOf(r)}, res.Configured, "and back")
	})

	t.Run("fields changed by hand are set back, fields bindsync does not set are kept", func(t *testing.T) {
		var live rbacv1.Role
		require.NoError(t, cp.Client.Get(ctx, role, &live))
		want := live.Rules
		patch := []byte(`{"metadata":{"annotations":{"note":"added by hand"}},"rules":[{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}]}`)
		require.NoError(t, cp.Client.Patch(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: role.Namespace, Name: role.Name}},
			client.RawPatch(types.MergePatchType, patch), client.FieldOwner("kubectl-edit")))

		res, err := teamA.Apply(ctx, objsA)
		require.NoError(t, err)
		assert.Equal(t, role.Name, singleRef(t, res.Configured).Name, "the Role is configured")

		require.NoError(t, cp.Client.Get(ctx, role, &live))
		assert.Equal(t, want, live.Rules, "the rules are git's again")
		assert.Equal(t, "added by hand", live.Annotations["note"], "an annotation bindsync does not set stays")

		counter.reset()
		res, err = teamA.Apply(ctx, objsA)
		require.NoError(t, err)
		assert.Len(t, res.Unchanged, len(objsA))
		assert.Empty(t, counter.reset(), "the hand-added annotation does not make every apply write")
	})

	t.Run("an export that leaves git is pruned, the rest stays", func(t *testing.T) {
		export := findObject(t, objsA, "APIServiceExport", "postgresqlinstances.anynines.com")
		var next []*unstructured.Unstructured
		for _, o := range objsA {
			if o != export {
				next = append(next, o)
			}
		}
		res, err := teamA.Apply(ctx, next)
		require.NoError(t, err)
		assert.Len(t, res.Unchanged, len(next))
		res, err = teamA.Prune(ctx, inventoryOf(objsA), next)
		require.NoError(t, err)
		assert.Equal(t, []apply.ObjectRef{apply.RefOf(export)}, res.Deleted)

		assert.True(t, apierrors.IsNotFound(getObject(ctx, cp, export)), "the export is gone")
		for _, o := range next {
			assert.NoError(t, getObject(ctx, cp, o), "%s stays", apply.RefOf(o))
		}
		objsA = next
	})

	t.Run("an object someone else created is never modified or pruned", func(t *testing.T) {
		// Someone creates an export with a name git will use, without bindsync's labels.
		foreign := findObject(t, renderedControlPlane(t, "team-a"), "APIServiceExport", "postgresqlinstances.anynines.com").DeepCopy()
		foreign.SetLabels(nil)
		require.NoError(t, cp.Client.Create(ctx, foreign))
		rv := foreign.GetResourceVersion()

		res, err := teamA.Apply(ctx, append(deepCopyAll(objsA), renderedExport(t, foreign.GetName())))
		require.ErrorIs(t, err, apply.ErrForeign)
		require.Len(t, res.Failed, 1)
		assert.Equal(t, foreign.GetName(), res.Failed[0].Ref.Name)
		assert.Contains(t, err.Error(), "APIServiceExport.bindsync.io bindsync-team-a/postgresqlinstances.anynines.com", "the error names the object")
		assert.Len(t, res.Unchanged, len(objsA), "the other objects are still applied")

		withForeign := append(deepCopyAll(objsA), renderedExport(t, foreign.GetName()))
		res, err = teamA.Prune(ctx, inventoryOf(withForeign), objsA)
		require.NoError(t, err)
		assert.Empty(t, res.Deleted)
		assert.Equal(t, []apply.ObjectRef{apply.RefOf(foreign)}, res.Skipped)

		res, err = teamA.PruneByLabels(ctx, nil, controlPlaneKinds, objsA)
		require.NoError(t, err)
		assert.Empty(t, res.Deleted)

		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(foreign.GroupVersionKind())
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(foreign), live))
		assert.Equal(t, rv, live.GetResourceVersion(), "the foreign export was not written")
		assert.Empty(t, live.GetLabels())
	})

	t.Run("a vanished cluster folder is pruned by label, namespace last, other clusters untouched", func(t *testing.T) {
		bBefore := resourceVersions(ctx, t, cp, objsB)
		res, err := base.PruneByLabels(ctx, clusterSelector(t, "team-a"), controlPlaneKinds, nil)
		require.NoError(t, err)
		assert.ElementsMatch(t, refsOf(objsA), res.Deleted)
		require.NotEmpty(t, res.Deleted)
		assert.Equal(t, "Namespace", res.Deleted[len(res.Deleted)-1].Kind, "the namespace goes last")
		assert.Equal(t, "APIServiceExport", res.Deleted[0].Kind, "namespaced objects go first")

		for _, o := range objsA {
			err := getObject(ctx, cp, o)
			if o.GetKind() == "Namespace" {
				// No namespace controller runs here: the namespace stays Terminating.
				var ns unstructured.Unstructured
				ns.SetAPIVersion("v1")
				ns.SetKind("Namespace")
				require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Name: o.GetName()}, &ns))
				assert.NotNil(t, ns.GetDeletionTimestamp(), "namespace %s is being deleted", o.GetName())
				continue
			}
			assert.True(t, apierrors.IsNotFound(err), "%s is gone: %v", apply.RefOf(o), err)
		}
		assert.Equal(t, bBefore, resourceVersions(ctx, t, cp, objsB), "team-b is untouched")
	})
}

// renderedExport returns team-a's rendered export of crdName, labels and all.
func renderedExport(t *testing.T, crdName string) *unstructured.Unstructured {
	t.Helper()
	return findObject(t, renderedControlPlane(t, "team-a"), "APIServiceExport", crdName)
}

func findObject(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	require.Failf(t, "object not found", "%s %s", kind, name)
	return nil
}

func singleRef(t *testing.T, refs []apply.ObjectRef) apply.ObjectRef {
	t.Helper()
	require.Len(t, refs, 1)
	return refs[0]
}

func deepCopyAll(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	out := make([]*unstructured.Unstructured, len(objs))
	for i, o := range objs {
		out[i] = o.DeepCopy()
	}
	return out
}

// getObject reads o's live copy and returns the error.
func getObject(ctx context.Context, c *testenv.Cluster, o *unstructured.Unstructured) error {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(o.GroupVersionKind())
	return c.Client.Get(ctx, client.ObjectKeyFromObject(o), live)
}

// resourceVersions reads the resourceVersion of each object.
func resourceVersions(ctx context.Context, t *testing.T, c *testenv.Cluster, objs []*unstructured.Unstructured) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, o := range objs {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		require.NoError(t, c.Client.Get(ctx, client.ObjectKeyFromObject(o), live))
		out[apply.RefOf(o).String()] = live.GetResourceVersion()
	}
	return out
}
