package integration

import (
	"context"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bindsyncv1alpha1 "github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/apply"
	"github.com/bindsync/bindsync/internal/kustomize"
	"github.com/bindsync/bindsync/internal/manifest"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// hostileCase is testdata/render/hostile-claims: one app cluster per
// template that claims more than related objects, and one legitimate one.
var hostileCase = []string{"testdata", "render", "hostile-claims", "input"}

// TestIntegrationHostileClaimsGrantNothing renders the hostile-claims case,
// applies every cluster's control-plane folder to a real control plane and
// acts as each cluster's agent: every access a hostile template tried to
// claim is refused with 403, while the legitimate cluster keeps exactly
// what it claimed, with the RBAC semantics of named objects the renderer's
// warning describes.
func TestIntegrationHostileClaimsGrantNothing(t *testing.T) {
	t.Parallel()
	cp, _ := testenv.SharedPair(t)
	ctx := testContext(t)
	installBindsyncCRDs(ctx, t, cp)
	_, err := cp.InstallCRDs(ctx, repoPath(t, append(hostileCase, "crds")...))
	require.NoError(t, err)

	in, docProblems, err := manifest.LoadDir(repoPath(t, hostileCase...))
	require.NoError(t, err)
	require.Empty(t, docProblems)
	out := render.Render(in)
	fsys := fstest.MapFS{}
	for p, data := range out.Tree {
		fsys[p] = &fstest.MapFile{Data: data}
	}
	agents := map[string]client.Client{}
	for _, c := range in.Clusters {
		objs, err := kustomize.BuildFS(fsys, staterepo.ControlPlaneDir(c.Name))
		require.NoError(t, err)
		apply.Sort(objs) // in the order they are applied
		// RBAC first and on its own: an export the API server refuses must
		// not hide what the RBAC beside it would grant.
		var access, exports []*unstructured.Unstructured
		for _, o := range objs {
			if o.GetKind() == "APIServiceExport" {
				exports = append(exports, o)
			} else {
				access = append(access, o)
			}
		}
		require.NoError(t, cp.ApplyObjects(ctx, access), "apply %s", staterepo.ControlPlaneDir(c.Name))
		assert.NoError(t, cp.ApplyObjects(ctx, exports), "apply the exports of %s", staterepo.ControlPlaneDir(c.Name))
		ns := bindsyncv1alpha1.ClusterNamespace(c.Name)
		// What a provider keeps in each cluster's namespace.
		for _, name := range []string{"claimed", "a", "b", "y"} {
			createIfMissing(ctx, t, cp.Client, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
		}
		for _, name := range []string{"settings", "a", "b", "other"} {
			createIfMissing(ctx, t, cp.Client, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
		}
		agents[c.Name], err = cp.Impersonate(ns, bindsyncv1alpha1.AgentServiceAccount)
		require.NoError(t, err)
	}

	dry := client.DryRunAll
	for cluster, denied := range map[string][]struct {
		what string
		do   func(ctx context.Context, agent client.Client, ns string) error
	}{
		"empty-name": {
			{"list every secret", func(ctx context.Context, a client.Client, ns string) error {
				return a.List(ctx, &corev1.SecretList{}, client.InNamespace(ns))
			}},
			{"create a secret", func(ctx context.Context, a client.Client, ns string) error {
				return a.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: ns}}, dry)
			}},
			{"get a secret", func(ctx context.Context, a client.Client, ns string) error {
				return a.Get(ctx, client.ObjectKey{Namespace: ns, Name: "claimed"}, &corev1.Secret{})
			}},
			{"delete every secret", func(ctx context.Context, a client.Client, ns string) error {
				return a.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(ns), dry)
			}},
		},
		"pods-create": {
			{"create a privileged hostPID pod", func(ctx context.Context, a client.Client, ns string) error {
				return a.Create(ctx, privilegedPod(ns), dry)
			}},
		},
		"namespaces": {
			{"delete its namespace", func(ctx context.Context, a client.Client, ns string) error {
				return a.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, dry)
			}},
			{"lift its pod security level", func(ctx context.Context, a client.Client, ns string) error {
				patch := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"privileged"}}}`)
				return a.Patch(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, client.RawPatch("application/merge-patch+json", patch), dry)
			}},
		},
		"resourcequotas": {
			{"create a resource quota", func(ctx context.Context, a client.Client, ns string) error {
				return a.Create(ctx, &corev1.ResourceQuota{
					ObjectMeta: metav1.ObjectMeta{Name: "starve", Namespace: ns},
					Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourceSecrets: resource.MustParse("0")}},
				}, dry)
			}},
		},
		"leases": {
			{"create a lease", func(ctx context.Context, a client.Client, ns string) error {
				return a.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "leader", Namespace: ns}}, dry)
			}},
		},
		"serviceaccount-token": {
			{"mint a token for its ServiceAccount", func(ctx context.Context, a client.Client, ns string) error {
				sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: bindsyncv1alpha1.AgentServiceAccount, Namespace: ns}}
				return a.SubResource("token").Create(ctx, sa, &authenticationv1.TokenRequest{})
			}},
		},
		"pods-exec": {
			{"exec into a pod", func(ctx context.Context, a client.Client, ns string) error {
				return forbiddenUnlessAllowed(ctx, t, a, authorizationv1.ResourceAttributes{
					Namespace: ns, Verb: "create", Resource: "pods", Subresource: "exec", Name: "any",
				})
			}},
			{"get a pod", func(ctx context.Context, a client.Client, ns string) error {
				return a.Get(ctx, client.ObjectKey{Namespace: ns, Name: "any"}, &corev1.Pod{})
			}},
		},
		"pipe-group": {
			{`get secrets named "x|y"`, func(ctx context.Context, a client.Client, ns string) error {
				return forbiddenUnlessAllowed(ctx, t, a, authorizationv1.ResourceAttributes{Namespace: ns, Verb: "get", Resource: "secrets", Name: "x|y"})
			}},
			{"get secret y", func(ctx context.Context, a client.Client, ns string) error {
				return a.Get(ctx, client.ObjectKey{Namespace: ns, Name: "y"}, &corev1.Secret{})
			}},
		},
		"comma-name": {
			{"get configmap a, which no claim names", func(ctx context.Context, a client.Client, ns string) error {
				return a.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, &corev1.ConfigMap{})
			}},
			{"get secret a", func(ctx context.Context, a client.Client, ns string) error {
				return a.Get(ctx, client.ObjectKey{Namespace: ns, Name: "a"}, &corev1.Secret{})
			}},
		},
	} {
		t.Run(cluster, func(t *testing.T) {
			ns := bindsyncv1alpha1.ClusterNamespace(cluster)
			agent := agents[cluster]
			require.NotNil(t, agent, "the case has a cluster %s", cluster)
			for _, d := range denied {
				err := d.do(ctx, agent, ns)
				assert.Truef(t, apierrors.IsForbidden(err), "%s: want 403 Forbidden, got %v", d.what, err)
			}
			// The fixed agent grants still work in a cluster whose template was refused.
			assert.NoError(t, agent.List(ctx, &bindsyncv1alpha1.APIServiceExportRequestList{}, client.InNamespace(ns)), "list its requests")
			assert.NoError(t, agent.List(ctx, &bindsyncv1alpha1.APIServiceExportList{}, client.InNamespace(ns)), "list its exports")
		})
	}

	t.Run("legit", func(t *testing.T) {
		ns := bindsyncv1alpha1.ClusterNamespace("legit")
		agent := agents["legit"]
		allowed := func(what string, err error) { assert.NoError(t, err, "%s is claimed", what) }
		denied := func(what string, err error) {
			assert.Truef(t, apierrors.IsForbidden(err), "%s: want 403 Forbidden, got %v", what, err)
		}
		// secrets: get, list, watch on every secret.
		allowed("get a secret", agent.Get(ctx, client.ObjectKey{Namespace: ns, Name: "claimed"}, &corev1.Secret{}))
		allowed("list secrets", agent.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)))
		denied("create a secret", agent.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "new", Namespace: ns}}, dry))

		// configmaps named settings, with verbs get list watch create delete deletecollection:
		// RBAC gives get and delete, list and watch only by name, never create or deletecollection.
		allowed("get configmap settings", agent.Get(ctx, client.ObjectKey{Namespace: ns, Name: "settings"}, &corev1.ConfigMap{}))
		allowed("delete configmap settings", agent.Delete(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: ns}}, dry))
		var byName corev1.ConfigMapList
		allowed("list configmaps with fieldSelector metadata.name=settings",
			agent.List(ctx, &byName, client.InNamespace(ns), client.MatchingFields{"metadata.name": "settings"}))
		assert.Len(t, byName.Items, 1)
		assert.True(t, can(ctx, t, agent, authorizationv1.ResourceAttributes{Namespace: ns, Verb: "watch", Resource: "configmaps", Name: "settings"}),
			"watch configmaps with fieldSelector metadata.name=settings")
		denied("list every configmap", agent.List(ctx, &corev1.ConfigMapList{}, client.InNamespace(ns)))
		assert.False(t, can(ctx, t, agent, attrs(ns, "watch", "", "configmaps")), "watch every configmap")
		denied("get configmap other", agent.Get(ctx, client.ObjectKey{Namespace: ns, Name: "other"}, &corev1.ConfigMap{}))
		denied("create configmap settings", agent.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: ns}}, dry))
		denied("deletecollection of configmap settings", agent.DeleteAllOf(ctx, &corev1.ConfigMap{},
			client.InNamespace(ns), client.MatchingFields{"metadata.name": "settings"}, dry))

		// gadgets of the bound group example.org: get and list only.
		gadgets := &unstructured.UnstructuredList{}
		gadgets.SetAPIVersion("example.org/v1")
		gadgets.SetKind("GadgetList")
		allowed("list gadgets", agent.List(ctx, gadgets, client.InNamespace(ns)))
		assert.False(t, can(ctx, t, agent, attrs(ns, "create", "example.org", "gadgets")), "create gadgets is not claimed")

		// the bound widgets.
		widget := &unstructured.Unstructured{}
		widget.SetAPIVersion("example.org/v1")
		widget.SetKind("Widget")
		widget.SetNamespace(ns)
		widget.SetName("w")
		allowed("create a widget", agent.Create(ctx, widget, dry))
	})

	t.Run("an agent deletes its own requests and no other cluster's", func(t *testing.T) {
		mine := &bindsyncv1alpha1.APIServiceExportRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "unbind-check", Namespace: bindsyncv1alpha1.ClusterNamespace("legit")},
			Spec:       bindsyncv1alpha1.APIServiceExportRequestSpec{TemplateRef: bindsyncv1alpha1.TemplateReference{Name: "legit"}},
		}
		require.NoError(t, agents["legit"].Create(ctx, mine))
		require.NoError(t, agents["legit"].Delete(ctx, mine), "unbind: delete its own request")

		theirs := &bindsyncv1alpha1.APIServiceExportRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "unbind-check", Namespace: bindsyncv1alpha1.ClusterNamespace("comma-name")},
			Spec:       bindsyncv1alpha1.APIServiceExportRequestSpec{TemplateRef: bindsyncv1alpha1.TemplateReference{Name: "comma-name"}},
		}
		createIfMissing(ctx, t, cp.Client, theirs)
		requireForbidden(t, agents["legit"].Delete(ctx, theirs), "delete a request of another cluster")
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(theirs), theirs), "the other cluster's request is still there")
	})

	t.Run("cluster namespaces refuse privileged pods", func(t *testing.T) {
		for _, c := range in.Clusters {
			err := cp.Client.Create(ctx, privilegedPod(bindsyncv1alpha1.ClusterNamespace(c.Name)), dry)
			require.Error(t, err, "even an administrator cannot start a privileged pod in %s", c.Name)
			assert.Truef(t, apierrors.IsForbidden(err), "%s: want the pod security admission's 403, got %v", c.Name, err)
			assert.Contains(t, err.Error(), "violates PodSecurity \"restricted")
		}
	})
}

// forbiddenUnlessAllowed asks the API server whether the agent may do attrs,
// for accesses a plain request cannot express (exec into a pod that does not
// exist, a name no object can have), and answers like a refused request.
func forbiddenUnlessAllowed(ctx context.Context, t *testing.T, agent client.Client, attrs authorizationv1.ResourceAttributes) error {
	if can(ctx, t, agent, attrs) {
		return nil
	}
	return apierrors.NewForbidden(corev1.Resource(attrs.Resource), attrs.Name, nil)
}

func privilegedPod(namespace string) *corev1.Pod {
	privileged := true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "escape", Namespace: namespace},
		Spec: corev1.PodSpec{
			HostPID: true,
			Containers: []corev1.Container{{
				Name: "shell", Image: "busybox",
				SecurityContext: &corev1.SecurityContext{Privileged: &privileged},
			}},
		},
	}
}

// TestIntegrationTemplateCRDRefusesUnsafeClaims: the API server itself
// refuses a template whose claim names the empty object, a name or a group
// holding a separator, or a sub-resource, and accepts the same template
// without them.
func TestIntegrationTemplateCRDRefusesUnsafeClaims(t *testing.T) {
	t.Parallel()
	cp, _ := testenv.SharedPair(t)
	ctx := testContext(t)
	installBindsyncCRDs(ctx, t, cp)

	template := func(claim bindsyncv1alpha1.PermissionClaim) *bindsyncv1alpha1.APIServiceExportTemplate {
		return &bindsyncv1alpha1.APIServiceExportTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: "crd-validation"},
			Spec: bindsyncv1alpha1.APIServiceExportTemplateSpec{
				Resources:        []bindsyncv1alpha1.GroupResource{{Group: "example.org", Resource: "widgets"}},
				PermissionClaims: []bindsyncv1alpha1.PermissionClaim{claim},
			},
		}
	}
	claim := func(group, resource string, names ...string) bindsyncv1alpha1.PermissionClaim {
		return bindsyncv1alpha1.PermissionClaim{
			GroupResource: bindsyncv1alpha1.GroupResource{Group: group, Resource: resource},
			Verbs:         []bindsyncv1alpha1.Verb{"get"}, ResourceNames: names,
		}
	}
	for name, tc := range map[string]struct {
		claim bindsyncv1alpha1.PermissionClaim
		field string // the field the API server names; "" when it accepts
	}{
		"a named secret":                      {claim: claim("", "secrets", "key")},
		"a resource of a DNS-subdomain group": {claim: claim("example.org", "gadgets")},
		"an empty resource name":              {claim: claim("", "secrets", ""), field: "spec.permissionClaims[0].resourceNames[0]"},
		"a resource name with a comma":        {claim: claim("", "configmaps", "a,b"), field: "spec.permissionClaims[0].resourceNames[0]"},
		"a group with a pipe":                 {claim: claim("g|x", "secrets", "y"), field: "spec.permissionClaims[0].group"},
		"an upper-case group":                 {claim: claim("Example.org", "gadgets"), field: "spec.permissionClaims[0].group"},
		"a sub-resource":                      {claim: claim("", "pods/exec"), field: "spec.permissionClaims[0].resource"},
	} {
		t.Run(name, func(t *testing.T) {
			err := cp.Client.Create(ctx, template(tc.claim), client.DryRunAll)
			if tc.field == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Truef(t, apierrors.IsInvalid(err), "want 422 Invalid, got %v", err)
			assert.Contains(t, err.Error(), tc.field)
		})
	}
}
