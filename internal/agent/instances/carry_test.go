package instances

import (
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

func TestCarried(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"team", true},
		{"example.com/owner", true},
		{"kubernetes.io/name", false},
		{"app.kubernetes.io/name", false},
		{"kubectl.kubernetes.io/last-applied-configuration", false},
		{"k8s.io/x", false},
		{"node.k8s.io/x", false},
		{"bindsync.io/cluster", false},
		{"bindsync.io/consumer-namespace", false},
		{"x.bindsync.io/y", false},
		{"notkubernetes.io/x", true},
	} {
		t.Run(tc.key, func(t *testing.T) { assert.Equal(t, tc.want, carried(tc.key)) })
	}
}

func TestDesiredCopySetsOriginWhateverTheAppObjectSays(t *testing.T) {
	app := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"plan": "small"}}}
	app.SetAPIVersion("example.com/v1")
	app.SetKind("Database")
	app.SetNamespace("shop")
	app.SetName("orders")
	app.SetUID("u1")
	app.SetLabels(map[string]string{v1alpha1.ClusterLabel: "victim", "tier": "gold"})
	app.SetAnnotations(map[string]string{v1alpha1.ConsumerClusterAnnotation: "victim", "note": "x"})
	c := desiredCopy(app, "east", "bsi-east-shop-0123456789")
	assert.Equal(t, "bsi-east-shop-0123456789", c.GetNamespace())
	assert.Equal(t, map[string]string{v1alpha1.ClusterLabel: "east", "tier": "gold"}, c.GetLabels())
	a := c.GetAnnotations()
	assert.Equal(t, "east", a[v1alpha1.ConsumerClusterAnnotation])
	assert.Equal(t, "shop", a[v1alpha1.ConsumerNamespaceAnnotation])
	assert.Equal(t, "orders", a[v1alpha1.ConsumerNameAnnotation])
	assert.Equal(t, "u1", a[v1alpha1.ConsumerUIDAnnotation])
	assert.Equal(t, "x", a["note"])
	assert.True(t, isCopyOf(c, "east", "shop", "orders"))
	assert.False(t, isCopyOf(c, "victim", "shop", "orders"))
}

func TestCopyUpToDate(t *testing.T) {
	app := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"plan": "small", "size": int64(10)}}}
	app.SetNamespace("shop")
	app.SetName("orders")
	desired := desiredCopy(app, "east", "ns")

	live := desired.DeepCopy()
	_ = unstructured.SetNestedField(live.Object, "pg-1", "spec", "resourceRef", "name")
	assert.True(t, copyUpToDate(live, desired), "a field the provider added is no reason to write")

	changed := live.DeepCopy()
	_ = unstructured.SetNestedField(changed.Object, "large", "spec", "plan")
	assert.False(t, copyUpToDate(changed, desired), "a field the app object sets was changed on the copy")

	unstructured.RemoveNestedField(app.Object, "spec", "size")
	assert.False(t, copyUpToDate(live, desiredCopy(app, "east", "ns")), "a field the app object dropped is still on the copy")
}

func TestSelectedPassesEveryNarrowing(t *testing.T) {
	s := &Syncer{apis: map[string]*apiState{}}
	secret := func(name string, labels map[string]string) *unstructured.Unstructured {
		o := &unstructured.Unstructured{Object: map[string]any{}}
		o.SetName(name)
		o.SetLabels(labels)
		return o
	}
	claim := func(c v1alpha1.PermissionClaim) []claimRef {
		c.Resource = "secrets"
		return []claimRef{{binding: "b", claim: c}}
	}
	byName := claim(v1alpha1.PermissionClaim{ResourceNames: []string{"conn"}})
	byLabel := claim(v1alpha1.PermissionClaim{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"claimed": "true"}}})
	both := claim(v1alpha1.PermissionClaim{ResourceNames: []string{"conn"}, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"claimed": "true"}}})
	byRef := claim(v1alpha1.PermissionClaim{References: []v1alpha1.ClaimReference{{Resource: "databases", JSONPath: ".spec.ref"}}})
	consumer := claim(v1alpha1.PermissionClaim{Owner: v1alpha1.ClaimOwnerConsumer})

	for _, tc := range []struct {
		name   string
		claims []claimRef
		obj    *unstructured.Unstructured
		want   bool
	}{
		{"named object", byName, secret("conn", nil), true},
		{"other name", byName, secret("admin", nil), false},
		{"labelled object", byLabel, secret("x", map[string]string{"claimed": "true"}), true},
		{"unlabelled object", byLabel, secret("x", nil), false},
		{"name and label", both, secret("conn", map[string]string{"claimed": "true"}), true},
		{"name without label", both, secret("conn", nil), false},
		{"no bound object references it", byRef, secret("conn", nil), false},
		{"a consumer claim selects nothing provider-owned", consumer, secret("conn", nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, s.selected(tc.claims, v1alpha1.ClaimOwnerProvider, "secrets", "shop", tc.obj))
		})
	}
}
