package apply

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	_ "github.com/bindsync/bindsync/internal/testutil/golden" // defines -update for go test ./... -update
)

func obj(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetNamespace(namespace)
	o.SetName(name)
	return o
}

func kindsAndNames(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, RefOf(o).String())
	}
	return out
}

func TestStages(t *testing.T) {
	in := []*unstructured.Unstructured{
		obj("bindsync.io/v1alpha1", "APIServiceExport", "ns-b", "x.example.com"),
		obj("anynines.com/v1", "PostgresqlInstance", "ns-a", "db"),
		obj("rbac.authorization.k8s.io/v1", "RoleBinding", "ns-a", "agent"),
		obj("rbac.authorization.k8s.io/v1", "Role", "ns-a", "agent"),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "postgresqlinstances.anynines.com"),
		obj("v1", "ServiceAccount", "ns-a", "agent"),
		obj("rbac.authorization.k8s.io/v1", "ClusterRole", "", "agent"),
		obj("v1", "Namespace", "", "ns-b"),
		obj("v1", "Namespace", "", "ns-a"),
		obj("bindsync.io/v1alpha1", "APIServiceExport", "ns-a", "x.example.com"),
	}
	first, rest := Stages(in)
	assert.Equal(t, []string{
		"Namespace ns-a",
		"Namespace ns-b",
		"CustomResourceDefinition.apiextensions.k8s.io postgresqlinstances.anynines.com",
	}, kindsAndNames(first), "namespaces and CRDs first")
	assert.Equal(t, []string{
		"ServiceAccount ns-a/agent",
		"ClusterRole.rbac.authorization.k8s.io agent",
		"Role.rbac.authorization.k8s.io ns-a/agent",
		"RoleBinding.rbac.authorization.k8s.io ns-a/agent",
		"PostgresqlInstance.anynines.com ns-a/db",
		"APIServiceExport.bindsync.io ns-a/x.example.com",
		"APIServiceExport.bindsync.io ns-b/x.example.com",
	}, kindsAndNames(rest), "then ServiceAccounts, RBAC, everything else by group, kind, namespace, name")
	assert.Equal(t, "APIServiceExport", in[0].GetKind(), "the input is not reordered")

	shuffled := append([]*unstructured.Unstructured(nil), in[5:]...)
	shuffled = append(shuffled, in[:5]...)
	first2, rest2 := Stages(shuffled)
	assert.Equal(t, kindsAndNames(first), kindsAndNames(first2), "the order does not depend on the input's")
	assert.Equal(t, kindsAndNames(rest), kindsAndNames(rest2))
}

func TestPruneOrder(t *testing.T) {
	refs := []ObjectRef{
		{Version: "v1", Kind: "Namespace", Name: "ns-a"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role", Namespace: "ns-a", Name: "agent"},
		{Group: "bindsync.io", Version: "v1alpha1", Kind: "APIServiceExport", Namespace: "ns-a", Name: "x"},
		{Version: "v1", Kind: "ServiceAccount", Namespace: "ns-a", Name: "agent"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding", Namespace: "ns-a", Name: "agent"},
	}
	pruneOrder(refs)
	var got []string
	for _, r := range refs {
		got = append(got, r.String())
	}
	assert.Equal(t, []string{
		"APIServiceExport.bindsync.io ns-a/x",
		"RoleBinding.rbac.authorization.k8s.io ns-a/agent",
		"Role.rbac.authorization.k8s.io ns-a/agent",
		"ServiceAccount ns-a/agent",
		"Namespace ns-a",
	}, got, "the reverse of the apply order: namespaced objects first, the namespace last")
}

func TestInventoryKinds(t *testing.T) {
	inv := Inventory{Entries: []ObjectRef{
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role", Namespace: "ns", Name: "b"},
		{Version: "v1", Kind: "Namespace", Name: "ns"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role", Namespace: "ns", Name: "a"},
	}}
	assert.Equal(t, []schema.GroupVersionKind{
		{Version: "v1", Kind: "Namespace"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	}, inv.Kinds(), "distinct and sorted")
}

func TestObjectRef(t *testing.T) {
	for _, tc := range []struct {
		name string
		ref  ObjectRef
		want string
	}{
		{"core, cluster-scoped", ObjectRef{Version: "v1", Kind: "Namespace", Name: "a"}, "Namespace a"},
		{"core, namespaced", ObjectRef{Version: "v1", Kind: "ServiceAccount", Namespace: "n", Name: "a"}, "ServiceAccount n/a"},
		{"group, namespaced", ObjectRef{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role", Namespace: "n", Name: "a"}, "Role.rbac.authorization.k8s.io n/a"},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, tc.ref.String()) })
	}
	a := ObjectRef{Group: "g", Version: "v1", Kind: "K", Namespace: "n", Name: "x"}
	b := a
	b.Version = "v2"
	assert.True(t, a.SameObject(b), "the version does not make another object")
	b.Namespace = "m"
	assert.False(t, a.SameObject(b))
}

func TestOptionsValidate(t *testing.T) {
	managed := labels.SelectorFromSet(labels.Set{"bindsync.io/managed": "true"})
	for _, tc := range []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"complete", Options{FieldManager: "bindsync-backend", PruneSelector: managed, WaitEstablished: time.Second}, ""},
		{"no field manager", Options{PruneSelector: managed}, "FieldManager is required"},
		{"no selector", Options{FieldManager: "m"}, "PruneSelector is required"},
		{"an empty selector would match everything", Options{FieldManager: "m", PruneSelector: labels.Everything()}, "must not be empty"},
		{"negative wait", Options{FieldManager: "m", PruneSelector: managed, WaitEstablished: -time.Second}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if tc.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

func TestWithPruneSelectorNarrows(t *testing.T) {
	a := &Applier{opts: Options{FieldManager: "m", PruneSelector: labels.SelectorFromSet(labels.Set{"bindsync.io/managed": "true"})}}
	c1 := a.WithPruneSelector(labels.SelectorFromSet(labels.Set{"bindsync.io/cluster": "c1"}))
	for _, tc := range []struct {
		name   string
		labels labels.Set
		want   bool
	}{
		{"both labels", labels.Set{"bindsync.io/managed": "true", "bindsync.io/cluster": "c1"}, true},
		{"another cluster", labels.Set{"bindsync.io/managed": "true", "bindsync.io/cluster": "c2"}, false},
		{"not managed", labels.Set{"bindsync.io/cluster": "c1"}, false},
		{"no labels", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, c1.PruneSelector().Matches(tc.labels)) })
	}
	assert.True(t, a.PruneSelector().Matches(labels.Set{"bindsync.io/managed": "true", "bindsync.io/cluster": "c2"}),
		"the original Applier is not narrowed")
}

func TestDropInvalid(t *testing.T) {
	a := &Applier{opts: Options{FieldManager: "m", PruneSelector: labels.SelectorFromSet(labels.Set{"bindsync.io/managed": "true"})}}
	labelled := func(o *unstructured.Unstructured) *unstructured.Unstructured {
		o.SetLabels(map[string]string{"bindsync.io/managed": "true"})
		return o
	}
	var res Result
	keep, dropped := a.dropInvalid([]*unstructured.Unstructured{
		labelled(obj("v1", "Namespace", "", "a")),
		obj("v1", "Namespace", "", "b"),
		labelled(obj("v1", "Namespace", "", "a")),
	}, &res)
	assert.Equal(t, []string{"Namespace a"}, kindsAndNames(keep))
	assert.Equal(t, []string{"Namespace b"}, kindsAndNames(dropped), "an unlabelled object is dropped and fails its dependants")
	require.Len(t, res.Failed, 2)
	assert.ErrorIs(t, res.Failed[0], ErrNotLabelled)
	assert.Equal(t, "Namespace b", res.Failed[0].Ref.String())
	assert.ErrorIs(t, res.Failed[1], ErrDuplicate)
	assert.Contains(t, res.Err().Error(), "Namespace b: check: does not carry bindsync's labels")
}

func TestResultErr(t *testing.T) {
	var res Result
	assert.NoError(t, res.Err())
	cause := errors.New("boom")
	res.fail(ObjectRef{Version: "v1", Kind: "ServiceAccount", Namespace: "n", Name: "a"}, StepDryRun, cause)
	err := res.Err()
	assert.ErrorIs(t, err, cause)
	assert.EqualError(t, err, "ServiceAccount n/a: dry-run apply: boom", "the error names the object and the step")
}

func TestEstablished(t *testing.T) {
	crd := func(conds ...map[string]any) *unstructured.Unstructured {
		list := make([]any, len(conds))
		for i, c := range conds {
			list[i] = c
		}
		return &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"conditions": list}}}
	}
	cond := func(t, s string) map[string]any {
		return map[string]any{"type": t, "status": s, "reason": "R", "message": "m"}
	}
	for _, tc := range []struct {
		name    string
		crd     *unstructured.Unstructured
		want    bool
		wantWhy string
	}{
		{"names accepted and established", crd(cond("NamesAccepted", "True"), cond("Established", "True")), true, ""},
		{"no conditions yet", crd(), false, "no Established condition yet"},
		{"names conflict", crd(cond("NamesAccepted", "False"), cond("Established", "False")), false, "NamesAccepted=False (R: m)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := established(tc.crd)
			assert.Equal(t, tc.want, ok)
			assert.Contains(t, why, tc.wantWhy)
		})
	}
}

func TestOrphanPatch(t *testing.T) {
	sel, err := labels.Parse("bindsync.io/managed=true,bindsync.io/cluster=c1")
	require.NoError(t, err)
	a := &Applier{opts: Options{FieldManager: "bindsync-agent", PruneSelector: sel}}
	live := obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "x.example.com")
	live.SetResourceVersion("42")
	live.SetLabels(map[string]string{"bindsync.io/managed": "true", "bindsync.io/cluster": "c1", "team": "a"})
	for _, tc := range []struct {
		name       string
		managers   []string
		wantFields []metav1.ManagedFieldsEntry
	}{
		{"other managers are kept", []string{"bindsync-agent", "kubectl-edit"}, []metav1.ManagedFieldsEntry{{Manager: "kubectl-edit"}}},
		{"only bindsync: one empty entry clears the list", []string{"bindsync-agent"}, []metav1.ManagedFieldsEntry{{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var entries []metav1.ManagedFieldsEntry
			for _, m := range tc.managers {
				entries = append(entries, metav1.ManagedFieldsEntry{Manager: m})
			}
			live.SetManagedFields(entries)
			data, err := a.orphanPatch(live)
			require.NoError(t, err)
			var ops []struct {
				Op    string          `json:"op"`
				Path  string          `json:"path"`
				Value json.RawMessage `json:"value"`
			}
			require.NoError(t, json.Unmarshal(data, &ops))
			require.Len(t, ops, 4)
			assert.Equal(t, "test", ops[0].Op, "only if the object is still the one read")
			assert.JSONEq(t, `"42"`, string(ops[0].Value))
			assert.ElementsMatch(t, []string{"/metadata/labels/bindsync.io~1cluster", "/metadata/labels/bindsync.io~1managed"},
				[]string{ops[1].Path, ops[2].Path}, "bindsync's labels go, others stay")
			assert.Equal(t, "remove", ops[1].Op)
			var fields []metav1.ManagedFieldsEntry
			require.NoError(t, json.Unmarshal(ops[3].Value, &fields))
			assert.Equal(t, tc.wantFields, fields)
		})
	}
}
