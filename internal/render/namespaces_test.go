package render_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

func appNamespace(cluster, name string) v1alpha1.APIServiceNamespace {
	return v1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v1alpha1.ClusterNamespace(cluster)}}
}

// TestNamespacesRenderIntoTheirClusterFolder: each APIServiceNamespace
// renders one file in its cluster's namespaces folder, holding the instance
// namespace, the agent's Role and its RoleBinding there and nothing else; clusters a-b
// and a with namespaces c and b-c get two different namespaces; rendering
// again gives the same bytes, and a cluster without one has no folder.
func TestNamespacesRenderIntoTheirClusterFolder(t *testing.T) {
	in := loadCase(t, "instance-namespaces")
	out := render.Render(in)
	ab, a := render.InstanceNamespace("a-b", "c"), render.InstanceNamespace("a", "b-c")
	require.NotEqual(t, ab, a, "a-b/c and a/b-c never meet")

	for _, tc := range []struct{ cluster, ns, inst string }{{"a-b", "c", ab}, {"a", "b-c", a}} {
		f := out.Tree[staterepo.NamespacePath(tc.cluster, tc.ns)]
		require.NotNil(t, f, "%s/%s is rendered", tc.cluster, tc.ns)
		docs := bytes.Split(f, []byte("---\n"))
		require.Len(t, docs, 3, "a namespace file holds the namespace, the Role and the RoleBinding")
		var ns, role, rb map[string]any
		require.NoError(t, yaml.Unmarshal(docs[0], &ns))
		require.NoError(t, yaml.Unmarshal(docs[1], &role))
		require.NoError(t, yaml.Unmarshal(docs[2], &rb))
		assert.Equal(t, "Namespace", ns["kind"])
		assert.Equal(t, tc.inst, ns["metadata"].(map[string]any)["name"])
		assert.Equal(t, map[string]any{v1alpha1.ConsumerNamespaceLabel: tc.ns, "pod-security.kubernetes.io/enforce": "restricted"},
			ns["metadata"].(map[string]any)["labels"])
		assert.Equal(t, "Role", role["kind"])
		assert.Equal(t, map[string]any{"name": v1alpha1.AgentServiceAccount, "namespace": tc.inst}, role["metadata"])
		assert.NotEmpty(t, role["rules"], "the Role grants the cluster's bound resources")
		assert.Equal(t, "RoleBinding", rb["kind"])
		assert.Equal(t, map[string]any{"name": v1alpha1.AgentServiceAccount, "namespace": tc.inst}, rb["metadata"])
		assert.Equal(t, map[string]any{"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": v1alpha1.AgentServiceAccount}, rb["roleRef"])
		assert.Equal(t, []any{map[string]any{"kind": "ServiceAccount", "name": "bindsync-agent", "namespace": v1alpha1.ClusterNamespace(tc.cluster)}}, rb["subjects"])

		var k map[string]any
		require.NoError(t, yaml.Unmarshal(out.Tree[staterepo.NamespacesDir(tc.cluster)+"/kustomization.yaml"], &k))
		assert.NotContains(t, k, "namespace", "every object names its own namespace")
	}
	assert.Contains(t, string(out.Tree[staterepo.NamespacesDir("a")+"/kustomization.yaml"]), "- b-c.yaml\n- shop.yaml\n")

	again := render.NewCache()
	first := again.Render(in)
	second := again.Render(copyInput(in))
	assert.Empty(t, second.Changes, "a render with nothing new changes nothing")
	for p, b := range out.Tree {
		assert.Equal(t, string(b), string(first.Tree[p]), p)
		assert.Equal(t, string(b), string(second.Tree[p]), p)
	}

	none := render.Render(render.Input{Clusters: in.Clusters})
	for p := range none.Tree {
		assert.NotContains(t, p, "/namespaces/", "no APIServiceNamespace, no namespaces folder")
	}
}

// TestBadNamespaceHoldsNothingElseBack: an APIServiceNamespace outside a
// cluster namespace, of a missing cluster, with a bad name, or whose
// control-plane namespace another pair already has, is an InvalidNamespace
// problem naming it; it renders nothing and holds nothing back, so its
// cluster's other namespaces and bindings render as usual.
func TestBadNamespaceHoldsNothingElseBack(t *testing.T) {
	// two app namespaces of cluster c whose names give one control-plane
	// namespace: the readable part is cut at the same place and the 40-bit
	// hashes collide (found by search)
	const first, second = "shop-with-a-very-long-name-that-is-cut-off-at-the-limit-12dc85",
		"shop-with-a-very-long-name-that-is-cut-off-at-the-limit-27ce66"
	require.Equal(t, render.InstanceNamespace("c", first), render.InstanceNamespace("c", second))

	older, newer := appNamespace("c", second), appNamespace("c", first)
	older.CreationTimestamp = metav1.NewTime(time.Unix(100, 0))
	newer.CreationTimestamp = metav1.NewTime(time.Unix(200, 0))
	in := render.Input{
		Clusters: []v1alpha1.AppCluster{{ObjectMeta: metav1.ObjectMeta{Name: "c"}}},
		Namespaces: []v1alpha1.APIServiceNamespace{
			appNamespace("c", "good"),
			{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "kube-system"}},
			appNamespace("gone", "x"),
			appNamespace("c", "Not_A_Label"),
			newer, older,
		},
	}
	for _, cached := range []bool{false, true} {
		var out render.Output
		if cached {
			out = render.NewCache().Render(in)
		} else {
			out = render.Render(in)
		}
		got := map[string]string{}
		for _, p := range out.Problems {
			assert.Equal(t, "APIServiceNamespace", p.Kind)
			assert.Equal(t, v1alpha1.InvalidNamespaceReason, p.Reason, p.String())
			assert.Empty(t, p.Holds, "%s holds nothing back", p.Object())
			assert.Empty(t, p.Clusters, "%s holds no cluster back", p.Object())
			got[p.Namespace+"/"+p.Name] = p.Message
		}
		assert.Contains(t, got["kube-system/x"], "not an app cluster namespace")
		assert.Contains(t, got["bindsync-gone/x"], `no AppCluster "gone"`)
		assert.Contains(t, got["bindsync-c/Not_A_Label"], "DNS-1123 label")
		assert.Contains(t, got["bindsync-c/"+first], "already assigned to "+second, "the newer of two colliding pairs is refused")
		assert.Len(t, got, 4)
		assert.Contains(t, out.Tree, staterepo.NamespacePath("c", "good"))
		assert.Contains(t, out.Tree, staterepo.NamespacePath("c", second), "the older keeps its name")
		assert.NotContains(t, out.Tree, staterepo.NamespacePath("c", first))
		assert.NotContains(t, out.Tree, staterepo.NamespacePath("c", "Not_A_Label"))
	}
}

// TestClaimSyncFieldsAreChecked: render refuses a claim whose owner is not
// Provider or Consumer, or whose reference names a resource the template
// does not bind or a path that is not dotted plain fields, naming the field.
func TestClaimSyncFieldsAreChecked(t *testing.T) {
	base := loadCase(t, "instance-namespaces")
	for name, tc := range map[string]struct {
		claim v1alpha1.PermissionClaim
		want  string
	}{
		"owner":            {v1alpha1.PermissionClaim{Owner: "Both"}, `spec.permissionClaims[0].owner "Both" is not Provider or Consumer`},
		"unbound resource": {v1alpha1.PermissionClaim{References: []v1alpha1.ClaimReference{{Group: "anynines.com", Resource: "backups", JSONPath: ".spec.x"}}}, "spec.permissionClaims[0].references[0]: (group \"anynines.com\", resource \"backups\") is not a resource this template binds"},
		"filter":           {v1alpha1.PermissionClaim{References: []v1alpha1.ClaimReference{{Group: "anynines.com", Resource: "postgresqlinstances", JSONPath: `.spec[?(@.x=="y")]`}}}, "spec.permissionClaims[0].references[0]: jsonPath"},
		"other namespace":  {v1alpha1.PermissionClaim{References: []v1alpha1.ClaimReference{{Group: "anynines.com", Resource: "postgresqlinstances", JSONPath: ".."}}}, "spec.permissionClaims[0].references[0]: jsonPath"},
		"empty":            {v1alpha1.PermissionClaim{References: []v1alpha1.ClaimReference{{Group: "anynines.com", Resource: "postgresqlinstances"}}}, "spec.permissionClaims[0].references[0]: jsonPath"},
	} {
		t.Run(name, func(t *testing.T) {
			in := copyInput(base)
			tpl := &in.Templates[0]
			require.Equal(t, "postgresql", tpl.Name)
			c := tc.claim
			c.GroupResource = v1alpha1.GroupResource{Resource: "secrets"}
			c.Verbs = []v1alpha1.Verb{"get"}
			tpl.Spec.PermissionClaims = []v1alpha1.PermissionClaim{c}
			out := render.Render(in)
			var msgs []string
			for _, p := range out.Problems {
				if p.Kind == "APIServiceExportTemplate" && p.Name == "postgresql" {
					assert.Equal(t, v1alpha1.InvalidTemplateReason, p.Reason)
					msgs = append(msgs, p.Message)
				}
			}
			require.Len(t, msgs, 1)
			assert.Contains(t, msgs[0], tc.want)
		})
	}
}

// TestCheckNamespacesFolder: the backend's check of a namespaces folder
// passes what render writes and refuses anything else.
func TestCheckNamespacesFolder(t *testing.T) {
	out := render.Render(loadCase(t, "instance-namespaces"))
	objs := func(cluster string, extra ...string) []*unstructured.Unstructured {
		var list []*unstructured.Unstructured
		files := []string{}
		for _, p := range out.Tree.Paths() {
			if bytes.HasPrefix([]byte(p), []byte(staterepo.NamespacesDir(cluster)+"/")) && !bytes.HasSuffix([]byte(p), []byte("kustomization.yaml")) {
				files = append(files, string(out.Tree[p]))
			}
		}
		for _, f := range append(files, extra...) {
			for _, doc := range bytes.Split([]byte(f), []byte("---\n")) {
				var m map[string]any
				require.NoError(t, yaml.Unmarshal(doc, &m))
				u := &unstructured.Unstructured{Object: m}
				u.SetLabels(mergeLabels(u.GetLabels(), map[string]string{v1alpha1.ManagedLabel: "true", v1alpha1.ClusterLabel: cluster}))
				list = append(list, u)
			}
		}
		return list
	}
	require.NoError(t, render.CheckNamespacesFolder("a", objs("a")))
	for name, doc := range map[string]string{
		"a RoleBinding in kube-system": "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: bindsync-agent, namespace: kube-system}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: 'bindsync:a:instances'}\nsubjects: [{kind: ServiceAccount, name: bindsync-agent, namespace: bindsync-a}]\n",
		"another cluster's namespace":  "apiVersion: v1\nkind: Namespace\nmetadata: {name: " + render.InstanceNamespace("a-b", "c") + ", labels: {bindsync.io/consumer-namespace: c}}\n",
		"cluster-admin bound":          "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: bindsync-agent, namespace: " + render.InstanceNamespace("a", "shop") + "}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: ServiceAccount, name: bindsync-agent, namespace: bindsync-a}]\n",
		"a Secret":                     "apiVersion: v1\nkind: Secret\nmetadata: {name: x, namespace: " + render.InstanceNamespace("a", "shop") + "}\n",
		"the cluster's own namespace":  "apiVersion: v1\nkind: Namespace\nmetadata: {name: bindsync-a, labels: {bindsync.io/consumer-namespace: a}}\n",
	} {
		t.Run(name, func(t *testing.T) {
			assert.Error(t, render.CheckNamespacesFolder("a", objs("a", doc)))
		})
	}
	shop := render.InstanceNamespace("a", "shop")
	role := func(ns, name, rules string) string {
		return "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: " + name + ", namespace: " + ns + "}\nrules: " + rules + "\n"
	}
	for name, tc := range map[string]struct{ doc, want string }{
		"a Role granting pods": {role(shop, "bindsync-agent", "[{apiGroups: [''], resources: [pods], verbs: [create]}]"),
			`resource "pods" of group "" is never granted`},
		"a Role granting the agent's bindsync.io resources": {role(shop, "bindsync-agent", "[{apiGroups: [bindsync.io], resources: [apiservicenamespaces], verbs: [create]}]"),
			`resource "apiservicenamespaces" of group "bindsync.io" is never granted`},
		"a Role granting a wildcard": {role(shop, "bindsync-agent", "[{apiGroups: ['*'], resources: ['*'], verbs: ['*']}]"),
			`verb "*" is never rendered`},
		"a Role granting escalate": {role(shop, "bindsync-agent", "[{apiGroups: [anynines.com], resources: [postgresqlinstances], verbs: [escalate]}]"),
			`verb "escalate" is never rendered`},
		"a Role of another name": {role(shop, "admin", "[]"), `render names it "bindsync-agent"`},
		"a Role in kube-system":  {role("kube-system", "bindsync-agent", "[]"), `namespace "kube-system" is not an instance namespace of this folder`},
		"the former instances ClusterRole bound": {"apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: bindsync-agent, namespace: " + shop + "}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: 'bindsync:a:instances'}\nsubjects: [{kind: ServiceAccount, name: bindsync-agent, namespace: bindsync-a}]\n",
			`render binds Role bindsync-agent only`},
		"a ClusterRole": {"apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: 'bindsync:a:instances'}\nrules: []\n",
			`never rendered into a namespaces folder`},
	} {
		t.Run(name, func(t *testing.T) {
			err := render.CheckNamespacesFolder("a", objs("a", tc.doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func mergeLabels(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// TestABindWidensEveryInstanceNamespacesRole: an instance namespace's Role
// grants what its cluster binds, so the cluster's namespace files change
// with what it binds (in the bind's commit), an incremental render gives
// the bytes a full one does, and a cluster that binds nothing namespaced
// gets a Role that grants nothing.
func TestABindWidensEveryInstanceNamespacesRole(t *testing.T) {
	in := loadCase(t, "instance-namespaces")
	unbound := copyInput(in)
	unbound.Requests = nil
	for _, q := range in.Requests {
		if q.Namespace != v1alpha1.ClusterNamespace("a") {
			unbound.Requests = append(unbound.Requests, q)
		}
	}
	require.Less(t, len(unbound.Requests), len(in.Requests), "cluster a binds something")

	cache := render.NewCache()
	before := cache.Render(unbound)
	after := cache.Render(copyInput(in))
	full := render.Render(in)
	for _, ns := range []string{"b-c", "shop"} {
		p := staterepo.NamespacePath("a", ns)
		var role map[string]any
		require.NoError(t, yaml.Unmarshal(bytes.Split(before.Tree[p], []byte("---\n"))[1], &role))
		assert.Equal(t, []any{}, role["rules"], "%s: nothing bound, nothing granted", p)
		assert.NotEqual(t, string(before.Tree[p]), string(after.Tree[p]), "%s changes with the bind", p)
		assert.Equal(t, string(full.Tree[p]), string(after.Tree[p]), "%s: an incremental render is a full one", p)
	}
	var changed bool
	for _, c := range after.Changes {
		changed = changed || c.Cluster == "a"
	}
	assert.True(t, changed, "cluster a's folder is written anew")
	require.NoError(t, render.CheckNamespacesFolder("a", buildFolder(t, before.Tree, "a")), "a Role with no rules passes the backend's check")
}

// buildFolder decodes a cluster's namespaces folder as kustomize would
// label it.
func buildFolder(t *testing.T, tree staterepo.Tree, cluster string) []*unstructured.Unstructured {
	t.Helper()
	var list []*unstructured.Unstructured
	for _, p := range tree.Paths() {
		if !bytes.HasPrefix([]byte(p), []byte(staterepo.NamespacesDir(cluster)+"/")) || bytes.HasSuffix([]byte(p), []byte("kustomization.yaml")) {
			continue
		}
		for _, doc := range bytes.Split(tree[p], []byte("---\n")) {
			var m map[string]any
			require.NoError(t, yaml.Unmarshal(doc, &m))
			u := &unstructured.Unstructured{Object: m}
			u.SetLabels(mergeLabels(u.GetLabels(), map[string]string{v1alpha1.ManagedLabel: "true", v1alpha1.ClusterLabel: cluster}))
			list = append(list, u)
		}
	}
	return list
}
