package compat

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/internal/testenv"
)

// TestIntegrationGuardedRulesOnAPIServer checks the verdicts on Klutch's
// real change against a real API server: an object stored before the change
// (no parameters, a single plan) can still be updated once the CRD carries
// the six guarded rules, which is why Compare calls the change non-breaking;
// with has() of the nested field only, the API server rejects that update,
// and Compare calls that variant breaking.
func TestIntegrationGuardedRulesOnAPIServer(t *testing.T) {
	c := testenv.Start(t, "compat")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const name = "keyvalueinstances.anynines.com"
	before := loadKlutchHistoryCRD(t, name+".before-custom-parameters.yaml")
	after := loadKlutchCRD(t, name+".yaml")
	nestedOnly := nestedHasOnly(t, after)

	require.False(t, Compare(before, after).Breaking(), "the real change")
	require.Equal(t, []string{RuleValidationRuleAdded}, Compare(before, nestedOnly).BreakingRules(), "has() of the nested field only")

	putCRD(ctx, t, c, before)
	stored := keyValue("stored", "keyvalue-single-small-ssl")
	require.NoError(t, c.Client.Create(ctx, stored), "an object stored before the change")

	// Breaking: once the API server runs the nested-only rules, the stored
	// object cannot be updated.
	putCRD(ctx, t, c, nestedOnly)
	waitValidation(ctx, t, c, false)
	err := updateSpec(ctx, c, "stored")
	require.Error(t, err, "the nested-only rules must reject the stored object's update")
	assert.True(t, apierrors.IsInvalid(err), "want 422 Invalid, got %v", err)
	t.Logf("API server with has() of the nested field only: %v", err)

	// Non-breaking: the real change accepts the same update.
	putCRD(ctx, t, c, after)
	waitValidation(ctx, t, c, true)
	require.NoError(t, updateSpec(ctx, c, "stored"), "the guarded rules must accept the stored object's update")

	// The guards are live: a single plan with a clustered-only parameter is
	// rejected with the rule's message.
	probe := keyValue("probe", "keyvalue-single-small-ssl")
	require.NoError(t, unstructured.SetNestedField(probe.Object, "enabled", "spec", "parameters", "hostnameResolution"))
	err = c.Client.Create(ctx, probe, client.DryRunAll)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "parameters.hostnameResolution is only supported for clustered plans")
}

// putCRD creates crd or replaces the spec of the one on the server, and
// waits until it is Established.
func putCRD(ctx context.Context, t *testing.T, c *testenv.Cluster, crd *apiextensionsv1.CustomResourceDefinition) {
	t.Helper()
	var cur apiextensionsv1.CustomResourceDefinition
	err := c.Client.Get(ctx, client.ObjectKey{Name: crd.Name}, &cur)
	switch {
	case apierrors.IsNotFound(err):
		fresh := crd.DeepCopy()
		fresh.ResourceVersion = ""
		require.NoError(t, c.Client.Create(ctx, fresh), "create CRD %s", crd.Name)
	case err != nil:
		require.NoError(t, err, "get CRD %s", crd.Name)
	default:
		cur.Spec = *crd.Spec.DeepCopy()
		require.NoError(t, c.Client.Update(ctx, &cur), "update CRD %s", crd.Name)
	}
	require.NoError(t, c.WaitEstablished(ctx, crd.Name))
}

// waitValidation waits until the API server validates with the CRD just
// put: a new object without parameters on a single plan, tried with dry
// run, is accepted (want true) or rejected (want false).
func waitValidation(ctx context.Context, t *testing.T, c *testenv.Cluster, want bool) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		last = c.Client.Create(ctx, keyValue("dry-run", "keyvalue-single-small-ssl"), client.DryRunAll)
		return (last == nil) == want, nil
	})
	require.NoError(t, err, "API server never switched to the new rules (want accepted=%v); last answer: %v", want, last)
}

// updateSpec changes a spec field of the object, so that the API server
// runs the rules on .spec again (unchanged values are ratcheted).
func updateSpec(ctx context.Context, c *testenv.Cluster, name string) error {
	obj := keyValue(name, "")
	if err := c.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return err
	}
	cur, _, _ := unstructured.NestedBool(obj.Object, "spec", "acceptsIncomplete")
	if err := unstructured.SetNestedField(obj.Object, !cur, "spec", "acceptsIncomplete"); err != nil {
		return err
	}
	return c.Client.Update(ctx, obj)
}

func keyValue(name, plan string) *unstructured.Unstructured {
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "anynines.com/v1",
		"kind":       "KeyvalueInstance",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
	}}
	if plan != "" {
		obj.Object["spec"] = map[string]any{"service": "a9s-keyvalue8", "plan": plan}
	}
	return obj
}

// TestIntegrationStorageSupersetOnAPIServer checks the storage verdicts
// against a real API server. Storage moves from v1 to a new v2 whose schema
// only adds a plan: an object stored as v1 reads the same through v1 and v2
// and can still be updated, and an object written through v2 reads through
// v1, which is why Compare calls the move non-breaking. A v2 without
// acceptsIncomplete, which Compare calls breaking, hands out the stored
// object without it.
func TestIntegrationStorageSupersetOnAPIServer(t *testing.T) {
	c := testenv.Start(t, "compat")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	const name = "keyvalueinstances.anynines.com"
	v1 := loadKlutchCRD(t, name+".yaml")
	withV2 := func(edit func(spec *apiextensionsv1.JSONSchemaProps)) *apiextensionsv1.CustomResourceDefinition {
		crd := v1.DeepCopy()
		v2 := *crd.Spec.Versions[0].DeepCopy()
		v2.Name = "v2"
		crd.Spec.Versions[0].Storage = false
		spec := v2.Schema.OpenAPIV3Schema.Properties["spec"]
		edit(&spec)
		v2.Schema.OpenAPIV3Schema.Properties["spec"] = spec
		crd.Spec.Versions = append(crd.Spec.Versions, v2)
		return crd
	}
	superset := withV2(func(spec *apiextensionsv1.JSONSchemaProps) {
		plan := spec.Properties["plan"]
		plan.Enum = append(plan.Enum, rawJSON(`"keyvalue-replica-huge-ssl"`))
		plan.Description += " v2 adds keyvalue-replica-huge-ssl."
		spec.Properties["plan"] = plan
	})
	removal := withV2(func(spec *apiextensionsv1.JSONSchemaProps) { delete(spec.Properties, "acceptsIncomplete") })

	r := Compare(v1, superset)
	require.False(t, r.Breaking(), "findings %+v", r.Findings)
	require.NotNil(t, findRule(r, RuleStorageVersionMovedSuperset, ""), "findings %+v", r.Findings)
	require.Equal(t, []string{RuleStorageVersionChanged}, Compare(v1, removal).BreakingRules())

	putCRD(ctx, t, c, v1)
	stored := keyValue("stored", "keyvalue-single-small-ssl")
	require.NoError(t, unstructured.SetNestedField(stored.Object, true, "spec", "acceptsIncomplete"))
	require.NoError(t, c.Client.Create(ctx, stored))
	want, _, _ := unstructured.NestedMap(stored.Object, "spec")

	putCRD(ctx, t, c, superset)
	waitServed(ctx, t, c, "v2")
	for _, version := range []string{"v1", "v2"} {
		got := getAs(ctx, t, c, version, "stored")
		spec, _, _ := unstructured.NestedMap(got.Object, "spec")
		assert.Equal(t, want, spec, "the object stored as v1, read as %s", version)
	}
	require.NoError(t, updateSpec(ctx, c, "stored"), "the object stored as v1 can be updated")
	huge := keyValue("huge", "keyvalue-replica-huge-ssl")
	huge.SetAPIVersion("anynines.com/v2")
	require.NoError(t, c.Client.Create(ctx, huge), "v2 takes the new plan")
	plan, _, _ := unstructured.NestedString(getAs(ctx, t, c, "v1", "huge").Object, "spec", "plan")
	assert.Equal(t, "keyvalue-replica-huge-ssl", plan, "an object stored as v2 reads through v1")
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Name: name}, &crd))
	assert.ElementsMatch(t, []string{"v1", "v2"}, crd.Status.StoredVersions, "v1 stays listed until a storage migration")

	// The breaking counterpart: a v2 without acceptsIncomplete.
	putCRD(ctx, t, c, removal)
	var got *unstructured.Unstructured
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got = getAs(ctx, t, c, "v2", "stored")
		_, found, _ := unstructured.NestedFieldNoCopy(got.Object, "spec", "acceptsIncomplete")
		return !found, nil
	})
	require.NoError(t, err, "read as v2 without acceptsIncomplete, the stored object must lose the field; got %v", got)
}

// waitServed waits until the API server serves version of the KeyValue CRD.
func waitServed(ctx context.Context, t *testing.T, c *testenv.Cluster, version string) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("anynines.com/" + version)
		list.SetKind("KeyvalueInstanceList")
		last = c.Client.List(ctx, list, client.InNamespace("default"))
		return last == nil, nil
	})
	require.NoError(t, err, "anynines.com/%s never served; last answer: %v", version, last)
}

// getAs reads a KeyValue object in the given version.
func getAs(ctx context.Context, t *testing.T, c *testenv.Cluster, version, name string) *unstructured.Unstructured {
	t.Helper()
	obj := keyValue(name, "")
	obj.SetAPIVersion("anynines.com/" + version)
	require.NoError(t, c.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj), "get %s as %s", name, version)
	return obj
}
