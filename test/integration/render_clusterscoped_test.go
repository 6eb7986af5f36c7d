package integration

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bindsyncv1alpha1 "github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/apply"
	"github.com/bindsync/bindsync/internal/kustomize"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// TestIntegrationRenderedClusterScopedBinding renders, in memory, a control
// plane whose template binds a cluster-scoped CRD, builds the tree with
// kustomize from the same fs.FS a Git tree would give, and applies it: only
// the cluster that bound the CRD gets its ClusterRole, bound to its own
// agent, and the app cluster establishes both CRDs.
func TestIntegrationRenderedClusterScopedBinding(t *testing.T) {
	t.Parallel()
	cp, app := testenv.SharedPair(t)
	ctx := testContext(t)
	installBindsyncCRDs(ctx, t, cp)

	gadgets := syntheticCRD("gadgets.scope.example.com", "Gadget", apiextensionsv1.ClusterScoped)
	widgets := syntheticCRD("widgets.scope.example.com", "Widget", apiextensionsv1.NamespaceScoped)
	in := render.Input{
		CRDs: []apiextensionsv1.CustomResourceDefinition{gadgets, widgets},
		Templates: []bindsyncv1alpha1.APIServiceExportTemplate{
			scopeTemplate("gadgets", "gadgets"), scopeTemplate("widgets", "widgets"),
		},
		Clusters: []bindsyncv1alpha1.AppCluster{
			{ObjectMeta: metav1.ObjectMeta{Name: "scope-a"}}, {ObjectMeta: metav1.ObjectMeta{Name: "scope-b"}},
		},
		Requests: []bindsyncv1alpha1.APIServiceExportRequest{
			scopeRequest("scope-a", "gadgets"), scopeRequest("scope-a", "widgets"), scopeRequest("scope-b", "widgets"),
		},
	}
	out := render.Render(in)
	require.Empty(t, out.Problems)
	fsys := fstest.MapFS{}
	for p, data := range out.Tree {
		fsys[p] = &fstest.MapFile{Data: data}
	}

	for _, crd := range []apiextensionsv1.CustomResourceDefinition{gadgets, widgets} {
		obj, err := toUnstructured(&crd)
		require.NoError(t, err)
		require.NoError(t, cp.ApplyObjects(ctx, []*unstructured.Unstructured{obj}))
	}
	for _, cluster := range []string{"scope-a", "scope-b"} {
		objs, err := kustomize.BuildFS(fsys, staterepo.ControlPlaneDir(cluster))
		require.NoError(t, err)
		apply.Sort(objs) // in the order they are applied
		require.NoError(t, cp.ApplyObjects(ctx, objs), "apply %s", staterepo.ControlPlaneDir(cluster))

		appObjs, err := kustomize.BuildFS(fsys, staterepo.AppDir(cluster))
		require.NoError(t, err)
		apply.Sort(appObjs) // in the order they are applied
		var names []string
		for _, o := range appObjs {
			names = append(names, o.GetName())
		}
		require.NoError(t, app.ApplyObjects(ctx, appObjs))
		require.NoError(t, app.WaitEstablished(ctx, names...))
	}

	t.Run("the ClusterRoleBinding names the cluster's own agent", func(t *testing.T) {
		var binding rbacv1.ClusterRoleBinding
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Name: render.ClusterRoleName("scope-a")}, &binding))
		require.Len(t, binding.Subjects, 1)
		assert.Equal(t, bindsyncv1alpha1.ClusterNamespace("scope-a"), binding.Subjects[0].Namespace)
		assert.Equal(t, bindsyncv1alpha1.AgentServiceAccount, binding.Subjects[0].Name)

		err := cp.Client.Get(ctx, client.ObjectKey{Name: render.ClusterRoleName("scope-b")}, &rbacv1.ClusterRole{})
		assert.True(t, apierrors.IsNotFound(err), "scope-b bound nothing cluster-scoped: %v", err)
	})

	gadget := func(name string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("scope.example.com/v1")
		u.SetKind("Gadget")
		u.SetName(name)
		return u
	}
	t.Run("the cluster that bound a cluster-scoped CRD uses it", func(t *testing.T) {
		agent, err := cp.Impersonate(bindsyncv1alpha1.ClusterNamespace("scope-a"), bindsyncv1alpha1.AgentServiceAccount)
		require.NoError(t, err)
		if err := agent.Create(ctx, gadget("from-scope-a")); !apierrors.IsAlreadyExists(err) {
			require.NoError(t, err)
		}
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("scope.example.com/v1")
		list.SetKind("GadgetList")
		require.NoError(t, agent.List(ctx, list))
	})

	t.Run("a cluster that did not bind it cannot", func(t *testing.T) {
		agent, err := cp.Impersonate(bindsyncv1alpha1.ClusterNamespace("scope-b"), bindsyncv1alpha1.AgentServiceAccount)
		require.NoError(t, err)
		requireForbidden(t, agent.Create(ctx, gadget("from-scope-b")), "create a Gadget")
		requireForbidden(t, agent.Get(ctx, client.ObjectKey{Name: "from-scope-a"}, gadget("")), "get scope-a's Gadget")
		w := &unstructured.Unstructured{}
		w.SetAPIVersion("scope.example.com/v1")
		w.SetKind("Widget")
		w.SetNamespace(bindsyncv1alpha1.ClusterNamespace("scope-a"))
		w.SetName("from-scope-b")
		requireForbidden(t, agent.Create(ctx, w), "create a Widget in scope-a's namespace")
	})
}

func syntheticCRD(name, kind string, scope apiextensionsv1.ResourceScope) apiextensionsv1.CustomResourceDefinition {
	plural := name[:len(name)-len(".scope.example.com")]
	return apiextensionsv1.CustomResourceDefinition{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "scope.example.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: plural, Singular: plural[:len(plural)-1], Kind: kind, ListKind: kind + "List",
			},
			Scope: scope,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"size": {Type: "integer"}}},
					},
				}},
			}},
		},
	}
}

func scopeTemplate(name, resource string) bindsyncv1alpha1.APIServiceExportTemplate {
	return bindsyncv1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "scope-" + name},
		Spec: bindsyncv1alpha1.APIServiceExportTemplateSpec{
			Resources:          []bindsyncv1alpha1.GroupResource{{Group: "scope.example.com", Resource: resource}},
			SchemaUpdatePolicy: bindsyncv1alpha1.SchemaUpdateNonBreaking,
			Approval:           bindsyncv1alpha1.ApprovalAutomatic,
		},
	}
}

func scopeRequest(cluster, template string) bindsyncv1alpha1.APIServiceExportRequest {
	return bindsyncv1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: template, Namespace: bindsyncv1alpha1.ClusterNamespace(cluster)},
		Spec:       bindsyncv1alpha1.APIServiceExportRequestSpec{TemplateRef: bindsyncv1alpha1.TemplateReference{Name: "scope-" + template}},
	}
}

func toUnstructured(obj any) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, err
	}
	return &unstructured.Unstructured{Object: m}, nil
}
