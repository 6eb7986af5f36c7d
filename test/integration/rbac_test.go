package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bindsyncv1alpha1 "github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/apply"
	"github.com/bindsync/bindsync/internal/kustomize"
	"github.com/bindsync/bindsync/internal/testenv"
)

// renderedCluster is what the example state repository grants one app
// cluster on the control plane, read from its built control-plane folder.
type renderedCluster struct {
	name      string
	namespace string
	objects   []*unstructured.Unstructured
	exports   []bindsyncv1alpha1.APIServiceExport
}

// bound returns the APIs of the cluster's exports, by CRD name.
func (c renderedCluster) bound() map[string]api {
	out := map[string]api{}
	for _, e := range c.exports {
		out[e.Name] = api{
			gvr: schema.GroupVersionResource{
				Group: e.Spec.Group, Version: storageVersion(e.Spec.Versions), Resource: e.Spec.Names.Plural,
			},
			kind: e.Spec.Names.Kind,
		}
	}
	return out
}

func storageVersion(versions []bindsyncv1alpha1.ExportVersion) string {
	for _, v := range versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}

// claims returns what the cluster's exports claim, by resource ("secrets",
// "configmaps"): the verbs allowed on every object of the resource (claims
// without resourceNames) and the objects allowed by name.
func (c renderedCluster) claims() (verbs, named map[string][]string) {
	verbs, named = map[string][]string{}, map[string][]string{}
	for _, e := range c.exports {
		for _, claim := range e.Spec.PermissionClaims {
			key := claim.GroupResource.String()
			if len(claim.ResourceNames) > 0 {
				named[key] = append(named[key], claim.ResourceNames...)
				continue
			}
			for _, v := range claim.Verbs {
				if !slices.Contains(verbs[key], string(v)) {
					verbs[key] = append(verbs[key], string(v))
				}
			}
		}
	}
	return verbs, named
}

// api names a resource for requests and access reviews.
type api struct {
	gvr  schema.GroupVersionResource
	kind string
}

func (a api) object(namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(a.gvr.GroupVersion().WithKind(a.kind))
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

func (a api) list() *unstructured.UnstructuredList {
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(a.gvr.GroupVersion().WithKind(a.kind + "List"))
	return l
}

func installedAPI(ctx context.Context, t *testing.T, c *testenv.Cluster, name string) api {
	t.Helper()
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Name: name}, &crd))
	a := api{kind: crd.Spec.Names.Kind}
	for _, v := range crd.Spec.Versions {
		if v.Storage {
			a.gvr = schema.GroupVersionResource{Group: crd.Spec.Group, Version: v.Name, Resource: crd.Spec.Names.Plural}
		}
	}
	return a
}

// TestIntegrationControlPlaneRBAC applies the control-plane folders of the
// example state repository to a real control plane and then acts as each
// app cluster's agent ServiceAccount: it gets exactly what its exports
// grant, in its own namespace, and nothing of any other cluster.
func TestIntegrationControlPlaneRBAC(t *testing.T) {
	t.Parallel()
	cp, _ := testenv.SharedPair(t)
	ctx := testContext(t)

	installBindsyncCRDs(ctx, t, cp)
	klutch, err := cp.InstallCRDs(ctx, repoPath(t, "testdata", "crds", "klutch"))
	require.NoError(t, err)

	clusters := buildControlPlaneFolders(t)
	for _, c := range clusters {
		for name := range c.bound() {
			require.Contains(t, klutch, name, "testdata/crds/klutch holds every CRD the examples bind")
		}
	}
	for _, c := range clusters {
		require.NoError(t, cp.ApplyObjects(ctx, c.objects), "apply clusters/%s/control-plane", c.name)
	}
	installed := map[string]api{}
	for _, name := range klutch {
		installed[name] = installedAPI(ctx, t, cp, name)
	}
	// Objects the agents will look for, in every cluster's namespace.
	for _, c := range clusters {
		seedRelatedObjects(ctx, t, cp.Client, c)
	}

	for _, a := range clusters {
		t.Run(a.name, func(t *testing.T) {
			agent, err := cp.Impersonate(a.namespace, bindsyncv1alpha1.AgentServiceAccount)
			require.NoError(t, err)
			checkOwnNamespace(ctx, t, agent, a, installed)
			for _, b := range clusters {
				if b.name != a.name {
					checkOtherCluster(ctx, t, agent, a, b)
				}
			}
			checkNoEscalation(ctx, t, agent, a)
		})
	}
}

// buildControlPlaneFolders builds clusters/<c>/control-plane of the example
// state repository, as the backend does, and reads what each grants.
func buildControlPlaneFolders(t *testing.T) []renderedCluster {
	t.Helper()
	folders := stateRepoFolders(t, "control-plane")
	var out []renderedCluster
	for _, name := range sortedKeys(folders) {
		objs, err := kustomize.BuildFS(os.DirFS(folders[name]), ".")
		require.NoError(t, err, "build clusters/%s/control-plane", name)
		apply.Sort(objs) // in the order they are applied
		c := renderedCluster{name: name, namespace: bindsyncv1alpha1.ClusterNamespace(name), objects: objs}
		var sawNamespace bool
		for _, o := range objs {
			assert.Equal(t, name, o.GetLabels()["bindsync.io/cluster"], "%s %s is labelled for its cluster", o.GetKind(), o.GetName())
			switch o.GetKind() {
			case "Namespace":
				assert.Equal(t, c.namespace, o.GetName())
				sawNamespace = true
			case "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition":
				// cluster-scoped on purpose; checked by what the agent can do
			default:
				assert.Equal(t, c.namespace, o.GetNamespace(), "%s %s stays in the cluster's namespace", o.GetKind(), o.GetName())
			}
			if o.GetKind() == "APIServiceExport" {
				var e bindsyncv1alpha1.APIServiceExport
				require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &e))
				c.exports = append(c.exports, e)
			}
		}
		require.True(t, sawNamespace, "clusters/%s/control-plane creates its namespace", name)
		require.NotEmpty(t, c.exports, "clusters/%s/control-plane has exports", name)
		out = append(out, c)
	}
	require.GreaterOrEqual(t, len(out), 2, "the example has two clusters to tell apart")
	return out
}

// Related objects the administrator (the provider, in real life) creates in
// each cluster's namespace.
const (
	claimedSecret   = "claimed"
	claimedConfig   = "settings"
	claimedLabelKey = "bindsync.io/claimed"
)

func seedRelatedObjects(ctx context.Context, t *testing.T, c client.Client, rc renderedCluster) {
	t.Helper()
	_, named := rc.claims()
	secrets := append([]string{claimedSecret}, named["secrets"]...)
	for _, name := range secrets {
		createIfMissing(ctx, t, c, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: rc.namespace, Labels: map[string]string{claimedLabelKey: "true"}},
			StringData: map[string]string{"password": "s3cret-" + rc.name},
		})
	}
	createIfMissing(ctx, t, c, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: claimedConfig, Namespace: rc.namespace},
		Data:       map[string]string{"owner": rc.name},
	})
}

func createIfMissing(ctx context.Context, t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Create(ctx, obj); !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
}

// can asks the API server whether the client may do verb on resource.
func can(ctx context.Context, t *testing.T, c client.Client, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	review := &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
	}
	require.NoError(t, c.Create(ctx, review))
	return review.Status.Allowed
}

func attrs(namespace, verb, group, resource string) authorizationv1.ResourceAttributes {
	return authorizationv1.ResourceAttributes{Namespace: namespace, Verb: verb, Group: group, Resource: resource}
}

// checkOwnNamespace: the agent uses what its exports grant, and only that.
func checkOwnNamespace(ctx context.Context, t *testing.T, agent client.Client, a renderedCluster, installed map[string]api) {
	ns := a.namespace
	bound := a.bound()

	t.Run("reads its exports and reports status on them", func(t *testing.T) {
		var list bindsyncv1alpha1.APIServiceExportList
		require.NoError(t, agent.List(ctx, &list, client.InNamespace(ns)))
		var got, want []string
		for _, e := range list.Items {
			got = append(got, e.Name)
		}
		for _, e := range a.exports {
			want = append(want, e.Name)
		}
		assert.ElementsMatch(t, want, got)
		var one bindsyncv1alpha1.APIServiceExport
		require.NoError(t, agent.Get(ctx, client.ObjectKey{Namespace: ns, Name: want[0]}, &one))
		assert.True(t, can(ctx, t, agent, authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: "update", Group: bindsyncv1alpha1.GroupName, Resource: "apiserviceexports", Subresource: "status",
		}), "status updates on its exports")
	})

	t.Run("creates, reads and deletes export requests", func(t *testing.T) {
		req := &bindsyncv1alpha1.APIServiceExportRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "rbac-check", Namespace: ns},
			Spec:       bindsyncv1alpha1.APIServiceExportRequestSpec{TemplateRef: a.exports[0].Spec.TemplateRef},
		}
		if err := agent.Create(ctx, req); !apierrors.IsAlreadyExists(err) {
			require.NoError(t, err)
		}
		var list bindsyncv1alpha1.APIServiceExportRequestList
		require.NoError(t, agent.List(ctx, &list, client.InNamespace(ns)))
		assert.NotEmpty(t, list.Items)
		assert.NoError(t, agent.Delete(ctx, req), "unbind: delete its own request")
	})

	t.Run("creates its bound resources", func(t *testing.T) {
		for _, name := range sortedKeys(bound) {
			b := bound[name]
			assert.True(t, can(ctx, t, agent, attrs(ns, "create", b.gvr.Group, b.gvr.Resource)), "create %s", name)
			// A dry run is authorized like a real request; an empty spec then
			// fails validation, which is fine: it got past RBAC.
			err := agent.Create(ctx, b.object(ns, "rbac-dry-run"), client.DryRunAll)
			assert.False(t, apierrors.IsForbidden(err), "create %s: %v", name, err)
			require.NoError(t, agent.List(ctx, b.list(), client.InNamespace(ns)), "list %s", name)
		}
		if pg, ok := bound["postgresqlinstances.anynines.com"]; ok {
			obj := pg.object(ns, "rbac-check")
			obj.Object["spec"] = map[string]any{
				"service":        "a9s-postgresql13",
				"plan":           "postgresql-single-nano",
				"compositionRef": map[string]any{"name": "a9s-postgresql"},
			}
			if err := agent.Create(ctx, obj); !apierrors.IsAlreadyExists(err) {
				require.NoError(t, err, "a real PostgresqlInstance, created as the agent")
			}
		}
	})

	t.Run("cannot use CRDs it did not bind", func(t *testing.T) {
		for _, name := range sortedKeys(installed) {
			if _, ok := bound[name]; ok {
				continue
			}
			other := installed[name]
			requireForbidden(t, agent.List(ctx, other.list(), client.InNamespace(ns)), "list "+name)
			assert.False(t, can(ctx, t, agent, attrs(ns, "create", other.gvr.Group, other.gvr.Resource)), "create %s", name)
		}
	})

	verbs, named := a.claims()
	t.Run("reads the related objects it claims", func(t *testing.T) {
		for resource, vs := range verbs {
			obj := relatedObject(resource, ns, claimedSecret, claimedConfig)
			if slices.Contains(vs, "get") {
				require.NoError(t, agent.Get(ctx, client.ObjectKeyFromObject(obj), obj), "get claimed %s", resource)
			}
			if slices.Contains(vs, "list") {
				require.NoError(t, agent.List(ctx, relatedList(resource), client.InNamespace(ns)), "list claimed %s", resource)
			}
		}
		for resource, names := range named {
			for _, n := range names {
				obj := relatedObject(resource, ns, n, n)
				require.NoError(t, agent.Get(ctx, client.ObjectKeyFromObject(obj), obj), "get claimed %s %s", resource, n)
			}
		}
	})

	t.Run("uses related objects only as claimed", func(t *testing.T) {
		for _, resource := range []string{"secrets", "configmaps"} {
			for _, verb := range []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"} {
				if slices.Contains(verbs[resource], verb) {
					continue
				}
				assert.False(t, can(ctx, t, agent, attrs(ns, verb, "", resource)), "%s %s is not claimed", verb, resource)
			}
			if !slices.Contains(verbs[resource], "create") {
				requireForbidden(t, agent.Create(ctx, relatedObject(resource, ns, "rbac-new", "rbac-new")), "create "+resource)
			}
			if !slices.Contains(verbs[resource], "get") {
				obj := relatedObject(resource, ns, claimedSecret, claimedConfig)
				requireForbidden(t, agent.Get(ctx, client.ObjectKeyFromObject(obj), obj), "get unclaimed "+resource)
			}
		}
		requireForbidden(t, agent.List(ctx, &corev1.PodList{}, client.InNamespace(ns)), "list pods")
		requireForbidden(t, agent.List(ctx, &corev1.ServiceAccountList{}, client.InNamespace(ns)), "list serviceaccounts")
	})
}

// checkOtherCluster: nothing in another cluster's namespace is visible.
func checkOtherCluster(ctx context.Context, t *testing.T, agent client.Client, a, b renderedCluster) {
	t.Run("cannot read cluster "+b.name, func(t *testing.T) {
		ns := b.namespace
		requireForbidden(t, agent.Get(ctx, client.ObjectKey{Namespace: ns, Name: claimedSecret}, &corev1.Secret{}), "get a secret of "+b.name)
		requireForbidden(t, agent.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)), "list secrets of "+b.name)
		requireForbidden(t, agent.List(ctx, &corev1.ConfigMapList{}, client.InNamespace(ns)), "list configmaps of "+b.name)
		requireForbidden(t, agent.List(ctx, &bindsyncv1alpha1.APIServiceExportList{}, client.InNamespace(ns)), "list exports of "+b.name)
		requireForbidden(t, agent.Get(ctx, client.ObjectKey{Namespace: ns, Name: b.exports[0].Name}, &bindsyncv1alpha1.APIServiceExport{}),
			"get an export of "+b.name)
		requireForbidden(t, agent.List(ctx, &bindsyncv1alpha1.APIServiceExportRequestList{}, client.InNamespace(ns)), "list requests of "+b.name)
		requireForbidden(t, agent.Create(ctx, &bindsyncv1alpha1.APIServiceExportRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "from-" + a.name, Namespace: ns},
			Spec:       bindsyncv1alpha1.APIServiceExportRequestSpec{TemplateRef: b.exports[0].Spec.TemplateRef},
		}), "create a request for "+b.name)
		requireForbidden(t, agent.Delete(ctx, &bindsyncv1alpha1.APIServiceExportRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "rbac-check", Namespace: ns},
		}), "delete a request of "+b.name)
		bound := b.bound()
		for _, name := range sortedKeys(bound) {
			requireForbidden(t, agent.List(ctx, bound[name].list(), client.InNamespace(ns)), fmt.Sprintf("list %s of %s", name, b.name))
			assert.False(t, can(ctx, t, agent, attrs(ns, "create", bound[name].gvr.Group, bound[name].gvr.Resource)),
				"create %s in %s", name, ns)
		}
	})
}

// checkNoEscalation: the agent cannot widen its own access or leave its
// namespace.
func checkNoEscalation(ctx context.Context, t *testing.T, agent client.Client, a renderedCluster) {
	t.Run("cannot grant itself more or leave its namespace", func(t *testing.T) {
		ns := a.namespace
		requireForbidden(t, agent.Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "more", Namespace: ns},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"*"}}},
		}), "create a Role")
		requireForbidden(t, agent.Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "more", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: bindsyncv1alpha1.AgentServiceAccount, Namespace: ns}},
		}), "create a RoleBinding")
		requireForbidden(t, agent.Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "bindsync-more-" + a.name}}), "create a ClusterRole")
		requireForbidden(t, agent.Get(ctx, client.ObjectKey{Namespace: ns, Name: "bindsync-agent"}, &rbacv1.Role{}), "read its Role")
		for _, verb := range []string{"escalate", "bind"} {
			assert.False(t, can(ctx, t, agent, attrs(ns, verb, rbacv1.GroupName, "roles")), "%s roles", verb)
		}
		assert.False(t, can(ctx, t, agent, authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: "create", Resource: "serviceaccounts", Subresource: "token", Name: bindsyncv1alpha1.AgentServiceAccount,
		}), "mint tokens")

		export := a.exports[0].DeepCopy()
		requireForbidden(t, agent.Delete(ctx, export), "delete its export")
		assert.False(t, can(ctx, t, agent, attrs(ns, "update", bindsyncv1alpha1.GroupName, "apiserviceexports")), "change an export's spec")

		requireForbidden(t, agent.List(ctx, &corev1.SecretList{}), "list secrets in every namespace")
		requireForbidden(t, agent.List(ctx, &corev1.SecretList{}, client.InNamespace("kube-system")), "list secrets in kube-system")
		requireForbidden(t, agent.List(ctx, &corev1.NamespaceList{}), "list namespaces")
		requireForbidden(t, agent.List(ctx, &apiextensionsv1.CustomResourceDefinitionList{}), "list CRDs")
	})
}

func relatedObject(resource, namespace, secretName, configName string) client.Object {
	if resource == "configmaps" {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: configName}}
	}
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: secretName}}
}

func relatedList(resource string) client.ObjectList {
	if resource == "configmaps" {
		return &corev1.ConfigMapList{}
	}
	return &corev1.SecretList{}
}
