package integration

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/testenv"
)

// aggregateToAgent is the label that adds a ClusterRole's rules to the
// agent's bindsync-agent-instances (config/agent/rbac.yaml).
const aggregateToAgent = "bindsync.io/aggregate-to-agent"

// aggregateClusterRoles stands in for kube-controller-manager's
// clusterrole-aggregation controller, which the test's API server runs
// without: every ClusterRole with an aggregationRule gets the rules of the
// ClusterRoles its selectors match, in name order, without duplicates.
func aggregateClusterRoles(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	var roles rbacv1.ClusterRoleList
	require.NoError(t, c.List(ctx, &roles))
	for i := range roles.Items {
		agg := &roles.Items[i]
		if agg.AggregationRule == nil {
			continue
		}
		var rules []rbacv1.PolicyRule
		for _, sel := range agg.AggregationRule.ClusterRoleSelectors {
			s, err := metav1.LabelSelectorAsSelector(&sel)
			require.NoError(t, err)
			var matched rbacv1.ClusterRoleList
			require.NoError(t, c.List(ctx, &matched, client.MatchingLabelsSelector{Selector: s}))
			for _, m := range matched.Items {
				if m.Name == agg.Name {
					continue
				}
			next:
				for _, r := range m.Rules {
					for _, have := range rules {
						if equality.Semantic.DeepEqual(have, r) {
							continue next
						}
					}
					rules = append(rules, r)
				}
			}
		}
		agg.Rules = rules
		require.NoError(t, c.Update(ctx, agg))
	}
}

// instanceRoleFor is the ClusterRole docs/agent.md tells the platform to add
// for one bound API group: its bound resources and their status, nothing
// else.
func instanceRoleFor(group string, plurals ...string) *rbacv1.ClusterRole {
	var status []string
	for _, p := range plurals {
		status = append(status, p+"/status")
	}
	return &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "bindsync-agent-instances-" + group, Labels: map[string]string{aggregateToAgent: "true"}},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{group}, Resources: plurals, Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete"}},
			{APIGroups: []string{group}, Resources: status, Verbs: []string{"get", "update", "patch"}},
		},
	}
}

// namespacedCRD is a CRD with a status subresource and a free-form spec.
func namespacedCRD(plural, kind, group string) *apiextensionsv1.CustomResourceDefinition {
	preserve := true
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group, Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: plural, Kind: kind},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: &preserve,
				}},
			}},
		},
	}
}

// testAgentInstanceRights acts as the agent's ServiceAccount on app, where
// the app-cluster overlay is applied: as shipped it may touch no instance
// and no Secret; once the platform adds the documented ClusterRole for a
// bound API group it may do everything the instance sync does with that
// API's instances, in every namespace, and still nothing with any other
// API or Secret; it can never widen its own rights; the claims component
// adds Secrets and ConfigMaps.
func testAgentInstanceRights(ctx context.Context, t *testing.T, app *testenv.Cluster, overlay []*unstructured.Unstructured) {
	const group = "instances.deploy.bindsync.test"
	bound, other := namespacedCRD("shopdbs", "ShopDB", group), namespacedCRD("others", "Other", group)
	otherGroup := namespacedCRD("shopdbs", "ShopDB", "other.deploy.bindsync.test")
	for _, crd := range []*apiextensionsv1.CustomResourceDefinition{bound, other, otherGroup} {
		require.NoError(t, app.Client.Create(ctx, crd))
	}
	require.NoError(t, app.WaitEstablished(ctx, bound.Name, other.Name, otherGroup.Name))
	for _, ns := range []string{"shop", "billing"} {
		require.NoError(t, client.IgnoreAlreadyExists(app.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})))
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "orders-db-conn"}, StringData: map[string]string{"password": "x"}}
	require.NoError(t, app.Client.Create(ctx, secret))

	cfg := app.ImpersonateConfig(testenv.ServiceAccountUser(deployNamespace, agentSA))
	as, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	gvr := func(crd *apiextensionsv1.CustomResourceDefinition) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: crd.Spec.Group, Version: "v1", Resource: crd.Spec.Names.Plural}
	}
	object := func(crd *apiextensionsv1.CustomResourceDefinition, ns, name string) *unstructured.Unstructured {
		o := &unstructured.Unstructured{}
		o.SetAPIVersion(crd.Spec.Group + "/v1")
		o.SetKind(crd.Spec.Names.Kind)
		o.SetNamespace(ns)
		o.SetName(name)
		_ = unstructured.SetNestedField(o.Object, "small", "spec", "size")
		return o
	}
	type check struct {
		name string
		do   func() error
	}
	mayNot := func(t *testing.T, checks ...check) {
		for _, c := range checks {
			t.Run("may not "+c.name, func(t *testing.T) { requireForbidden(t, c.do(), c.name) })
		}
	}
	may := func(t *testing.T, checks ...check) {
		for _, c := range checks {
			t.Run("may "+c.name, func(t *testing.T) { require.NoError(t, c.do(), c.name) })
		}
	}
	listBound := func() error {
		_, err := dyn.Resource(gvr(bound)).List(ctx, metav1.ListOptions{})
		return err
	}
	readSecret := check{"read a Secret in an app namespace", func() error { return as.Get(ctx, client.ObjectKeyFromObject(secret), &corev1.Secret{}) }}
	escalate := []check{
		{"create a ClusterRole that aggregates into its own (Secrets)", func() error {
			return as.Create(ctx, &rbacv1.ClusterRole{
				ObjectMeta: metav1.ObjectMeta{Name: "sneaky", Labels: map[string]string{aggregateToAgent: "true"}},
				Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}},
			})
		}},
		{"create a ClusterRole for an API it syncs (it cannot grant itself the next one)", func() error {
			return as.Create(ctx, instanceRoleFor(otherGroup.Spec.Group, otherGroup.Spec.Names.Plural))
		}},
		{"change its aggregated ClusterRole", func() error {
			var r rbacv1.ClusterRole
			if err := app.Client.Get(ctx, client.ObjectKey{Name: "bindsync-agent-instances"}, &r); err != nil {
				return err
			}
			r.AggregationRule = nil
			r.Rules = append(r.Rules, rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}})
			return as.Update(ctx, &r)
		}},
	}

	t.Run("as shipped", func(t *testing.T) {
		aggregateClusterRoles(ctx, t, app.Client)
		mayNot(t, check{"list instances of a bound API", listBound}, readSecret)
		mayNot(t, escalate...)
	})

	require.NoError(t, app.Client.Create(ctx, instanceRoleFor(group, bound.Spec.Names.Plural)))
	aggregateClusterRoles(ctx, t, app.Client)
	t.Run("with the platform's ClusterRole for the bound API group", func(t *testing.T) {
		require.Eventually(t, func() bool { return listBound() == nil }, 10*time.Second, 100*time.Millisecond,
			"the aggregated rules take effect")
		may(t,
			check{"list and watch its instances in every namespace", func() error {
				w, err := dyn.Resource(gvr(bound)).Watch(ctx, metav1.ListOptions{})
				if err == nil {
					w.Stop()
				}
				return err
			}},
			check{"create an instance (a restored app object) in any namespace", func() error {
				if _, err := dyn.Resource(gvr(bound)).Namespace("shop").Create(ctx, object(bound, "shop", "orders-db"), metav1.CreateOptions{}); err != nil {
					return err
				}
				_, err := dyn.Resource(gvr(bound)).Namespace("billing").Create(ctx, object(bound, "billing", "orders-db"), metav1.CreateOptions{})
				return err
			}},
			check{"put its finalizer on an instance", func() error {
				patch := []byte(`{"metadata":{"finalizers":["` + v1alpha1.InstanceFinalizer + `"]}}`)
				_, err := dyn.Resource(gvr(bound)).Namespace("shop").Patch(ctx, "orders-db", "application/merge-patch+json", patch, metav1.PatchOptions{})
				return err
			}},
			check{"write an instance's status (from its provider copy)", func() error {
				patch := []byte(`{"status":{"ready":true}}`)
				_, err := dyn.Resource(gvr(bound)).Namespace("shop").Patch(ctx, "orders-db", "application/merge-patch+json", patch, metav1.PatchOptions{}, "status")
				return err
			}},
			check{"record an event on an instance", func() error {
				return as.Create(ctx, &corev1.Event{
					ObjectMeta:     metav1.ObjectMeta{Namespace: "shop", GenerateName: "orders-db-"},
					InvolvedObject: corev1.ObjectReference{APIVersion: group + "/v1", Kind: "ShopDB", Namespace: "shop", Name: "orders-db"},
					Reason:         v1alpha1.SyncFailedReason, Message: "test", Type: corev1.EventTypeWarning,
				})
			}},
			check{"remove its finalizer and delete an instance (deletionPolicy Delete)", func() error {
				patch := []byte(`{"metadata":{"finalizers":null}}`)
				if _, err := dyn.Resource(gvr(bound)).Namespace("shop").Patch(ctx, "orders-db", "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
					return err
				}
				return dyn.Resource(gvr(bound)).Namespace("billing").Delete(ctx, "orders-db", metav1.DeleteOptions{})
			}},
		)
		mayNot(t,
			check{"list another resource of the same group", func() error {
				_, err := dyn.Resource(gvr(other)).List(ctx, metav1.ListOptions{})
				return err
			}},
			check{"create an instance of another group's API", func() error {
				_, err := dyn.Resource(gvr(otherGroup)).Namespace("shop").Create(ctx, object(otherGroup, "shop", "x"), metav1.CreateOptions{})
				return err
			}},
			readSecret,
			check{"list ConfigMaps", func() error { return as.List(ctx, &corev1.ConfigMapList{}) }},
		)
		mayNot(t, escalate...)
	})

	t.Run("re-applying the overlay keeps the aggregated rules", func(t *testing.T) {
		// The aggregated role has no rules field: an apply (Flux, Argo CD,
		// kubectl apply) never takes what the aggregation controller wrote.
		assert.Empty(t, applyWithWarnings(ctx, t, app, overlay))
		var r rbacv1.ClusterRole
		require.NoError(t, app.Client.Get(ctx, client.ObjectKey{Name: "bindsync-agent-instances"}, &r))
		assert.NotEmpty(t, r.Rules)
		require.NoError(t, listBound())
	})

	// The component as docs/operations.md adds it to an overlay.
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, repoPath(t, "config", "agent", "claims"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte("components:\n- "+rel+"\n"), 0o600))
	claims := buildDeploy(t, dir)
	require.Equal(t, []string{"bindsync-agent-claims"}, namesOf(claims, "ClusterRole"), "the component adds one aggregated role and binds nothing itself")
	require.Len(t, claims, 1)
	require.NoError(t, app.ApplyObjects(ctx, claims))
	aggregateClusterRoles(ctx, t, app.Client)
	t.Run("with the claims component", func(t *testing.T) {
		require.Eventually(t, func() bool { return as.Get(ctx, client.ObjectKeyFromObject(secret), &corev1.Secret{}) == nil },
			10*time.Second, 100*time.Millisecond, "the aggregated rules take effect")
		may(t,
			check{"list Secrets and ConfigMaps in every namespace", func() error {
				return errorsOf(as.List(ctx, &corev1.SecretList{}), as.List(ctx, &corev1.ConfigMapList{}))
			}},
			check{"write a provider-owned Secret into an app namespace", func() error {
				return as.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "billing", Name: "orders-db-conn"}, StringData: map[string]string{"password": "y"}})
			}},
		)
		mayNot(t,
			check{"list another resource of the same group", func() error {
				_, err := dyn.Resource(gvr(other)).List(ctx, metav1.ListOptions{})
				return err
			}},
			check{"create a Pod", func() error {
				return as.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "p"},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}})
			}},
		)
		mayNot(t, escalate...)
	})
}
