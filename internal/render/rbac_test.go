package render_test

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// anyName stands for "every object" in a grant: a rule without resourceNames.
// No object name can contain "*", so it never collides with a real name.
const anyName = "*every object*"

// grant is one thing an app cluster's agent may do: verb on the object name
// of group/resource, through its Role (namespaced) or its ClusterRole.
type grant struct {
	Kind     string // "Role" or "ClusterRole"
	Group    string
	Resource string
	Name     string
	Verb     string
}

func (g grant) String() string {
	return fmt.Sprintf("%s %s %q/%s name=%q", g.Kind, g.Verb, g.Group, g.Resource, g.Name)
}

type grantSet map[grant]bool

func (s grantSet) add(kind, group, resource string, names, verbs []string) {
	if len(names) == 0 {
		names = []string{anyName}
	}
	for _, n := range names {
		for _, v := range verbs {
			s[grant{Kind: kind, Group: group, Resource: resource, Name: n, Verb: v}] = true
		}
	}
}

func (s grantSet) sorted() []string {
	out := make([]string, 0, len(s))
	for g := range s {
		out = append(out, g.String())
	}
	sort.Strings(out)
	return out
}

// What every agent may do in its namespace whatever it binds, as the design
// says: read its exports and report status on them; create, read and delete
// (unbind) its requests.
var fixedAgentGrants = []struct {
	resource string
	verbs    []string
}{
	{"apiserviceexportrequests", []string{"create", "delete", "get", "list", "watch"}},
	{"apiserviceexports", []string{"get", "list", "watch"}},
	{"apiserviceexports/status", []string{"get", "patch", "update"}},
	{"apiservicenamespaces", []string{"create", "delete", "get", "list", "watch"}},
}

// instancesKind is the grant kind of the Role bindsync-agent in each of the
// cluster's instance namespaces (its namespaces folder): what it grants, the
// agent has in those namespaces only.
const instancesKind = "Instances"

// What an agent may do on each resource it binds.
var boundResourceVerbs = []string{"create", "delete", "get", "list", "patch", "update", "watch"}

// rbacDoc is any of the four objects in a rendered rbac.yaml.
type rbacDoc struct {
	Kind     string `json:"kind"`
	Metadata struct{ Name string }
	Rules    []rbacv1.PolicyRule `json:"rules"`
	RoleRef  rbacv1.RoleRef      `json:"roleRef"`
	Subjects []rbacv1.Subject    `json:"subjects"`
}

// renderedGrants expands every rule of a rendered rbac.yaml into grants,
// and checks that each Role and ClusterRole is bound to the cluster's own
// agent ServiceAccount and nothing else.
func renderedGrants(t *testing.T, cluster string, rbac []byte) grantSet {
	t.Helper()
	ns := v1alpha1.ClusterNamespace(cluster)
	got := grantSet{}
	roles, bound := map[string]bool{}, map[string]bool{}
	for _, doc := range bytes.Split(rbac, []byte("\n---\n")) {
		var obj rbacDoc
		require.NoError(t, yaml.Unmarshal(doc, &obj))
		switch obj.Kind {
		case "Role", "ClusterRole":
			kind := obj.Kind
			roles[obj.Kind+"/"+obj.Metadata.Name] = true
			for _, r := range obj.Rules {
				assert.Empty(t, r.NonResourceURLs, "%s grants non-resource URLs", obj.Kind)
				for _, g := range r.APIGroups {
					for _, res := range r.Resources {
						got.add(kind, g, res, r.ResourceNames, r.Verbs)
					}
				}
			}
		case "RoleBinding", "ClusterRoleBinding":
			role := strings.TrimSuffix(obj.Kind, "Binding")
			assert.Equal(t, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: role, Name: obj.Metadata.Name}, obj.RoleRef,
				"%s %s binds its own %s", obj.Kind, obj.Metadata.Name, role)
			bound[role+"/"+obj.RoleRef.Name] = true
			assert.Equal(t, []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: v1alpha1.AgentServiceAccount, Namespace: ns}}, obj.Subjects,
				"%s %s binds only the agent of %s", obj.Kind, obj.Metadata.Name, cluster)
		default:
			t.Errorf("rbac.yaml of %s holds a %s", cluster, obj.Kind)
		}
	}
	assert.Equal(t, roles, bound, "every role is bound, and only rendered roles are")
	require.True(t, roles["Role/"+v1alpha1.AgentServiceAccount], "rbac.yaml of %s has the agent's Role", cluster)
	if roles["ClusterRole/"+render.ClusterRoleName(cluster)] {
		assert.Len(t, roles, 2, "at most the agent's Role and its own ClusterRole")
	} else {
		assert.Len(t, roles, 1, "only the agent's Role")
	}
	return got
}

// instanceGrants reads the Role of every file of a cluster's namespaces
// folder, checks that each is bound there to the cluster's own agent
// ServiceAccount only and that every namespace's Role grants the same, and
// returns those grants (kind instancesKind); none without a folder.
func instanceGrants(t *testing.T, cluster string, tree staterepo.Tree) grantSet {
	t.Helper()
	var first grantSet
	for _, p := range tree.Paths() {
		rest, ok := strings.CutPrefix(p, staterepo.NamespacesDir(cluster)+"/")
		if !ok || rest == "kustomization.yaml" {
			continue
		}
		got := grantSet{}
		var kinds []string
		for _, doc := range bytes.Split(tree[p], []byte("\n---\n")) {
			var obj rbacDoc
			require.NoError(t, yaml.Unmarshal(doc, &obj))
			kinds = append(kinds, obj.Kind)
			switch obj.Kind {
			case "Role":
				assert.Equal(t, v1alpha1.AgentServiceAccount, obj.Metadata.Name, p)
				for _, r := range obj.Rules {
					assert.Empty(t, r.NonResourceURLs, "%s grants non-resource URLs", p)
					for _, g := range r.APIGroups {
						for _, res := range r.Resources {
							got.add(instancesKind, g, res, r.ResourceNames, r.Verbs)
						}
					}
				}
			case "RoleBinding":
				assert.Equal(t, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: v1alpha1.AgentServiceAccount}, obj.RoleRef,
					"%s binds the Role beside it", p)
				assert.Equal(t, []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: v1alpha1.AgentServiceAccount, Namespace: v1alpha1.ClusterNamespace(cluster)}},
					obj.Subjects, "%s binds only the agent of %s", p, cluster)
			}
		}
		assert.Equal(t, []string{"Namespace", "Role", "RoleBinding"}, kinds, p)
		if first == nil {
			first = got
			continue
		}
		assert.Equal(t, first.sorted(), got.sorted(), "%s grants what the cluster's other instance namespaces grant", p)
	}
	if first == nil {
		return grantSet{}
	}
	return first
}

// wantedGrants computes, from the input alone, what a cluster's agent must
// be granted: the fixed agent grants, every bound resource (and get on its
// status) of the templates its rendered requests name, in the Role or, for
// cluster-scoped CRDs, the ClusterRole, and every claim of those templates.
//
// With withNamespaces (the cluster has instance namespaces), the namespaced
// bound resources and, when there is one, the claims are granted again by
// the instance namespaces' Role (instancesKind).
func wantedGrants(t *testing.T, in render.Input, templates []string, withNamespaces bool) grantSet {
	t.Helper()
	want := grantSet{}
	for _, f := range fixedAgentGrants {
		want.add("Role", v1alpha1.GroupName, f.resource, nil, f.verbs)
	}
	namespaced := false
	for _, name := range templates {
		for _, res := range findTemplate(t, in, name).Spec.Resources {
			namespaced = namespaced || findCRD(t, in, res.Resource+"."+res.Group).Spec.Scope != apiextensionsv1.ClusterScoped
		}
	}
	for _, name := range templates {
		tpl := findTemplate(t, in, name)
		for _, res := range tpl.Spec.Resources {
			kinds := []string{"Role"}
			if withNamespaces {
				kinds = append(kinds, instancesKind)
			}
			if findCRD(t, in, res.Resource+"."+res.Group).Spec.Scope == apiextensionsv1.ClusterScoped {
				kinds = []string{"ClusterRole"}
			}
			for _, kind := range kinds {
				want.add(kind, res.Group, res.Resource, nil, boundResourceVerbs)
				want.add(kind, res.Group, res.Resource+"/status", nil, []string{"get"})
			}
		}
		for _, c := range tpl.Spec.PermissionClaims {
			verbs := make([]string, len(c.Verbs))
			for i, v := range c.Verbs {
				verbs[i] = string(v)
			}
			want.add("Role", c.Group, c.Resource, c.ResourceNames, verbs)
			if namespaced && withNamespaces {
				want.add(instancesKind, c.Group, c.Resource, c.ResourceNames, verbs)
			}
		}
	}
	return want
}

// allowedByPolicy says whether a grant is one bindsync may ever give an
// agent, independently of what the renderer decided to render: the fixed
// agent grants, the bound resources, Secrets and ConfigMaps, and resources in
// a bound group Kubernetes does not serve itself; names are every object or a DNS subdomain.
func allowedByPolicy(g grant, boundGroups []string) string {
	if g.Name != anyName {
		if errs := validation.IsDNS1123Subdomain(g.Name); len(errs) > 0 {
			return fmt.Sprintf("uses %q as an object name, which is not a DNS subdomain", g.Name)
		}
	}
	switch {
	case g.Group == v1alpha1.GroupName:
		for _, f := range fixedAgentGrants {
			if f.resource == g.Resource && slices.Contains(f.verbs, g.Verb) && g.Name == anyName && g.Kind == "Role" {
				return ""
			}
		}
		return "is not one of the fixed agent grants"
	case g.Group == "":
		if (g.Kind == "Role" || g.Kind == instancesKind) && (g.Resource == "secrets" || g.Resource == "configmaps") {
			return ""
		}
		return "is a core resource other than secrets and configmaps"
	case staterepo.IsBuiltinGroup(g.Group):
		return "is in a group Kubernetes serves itself"
	case !slices.Contains(boundGroups, g.Group):
		return "is in a group no rendered template binds"
	}
	return ""
}

// TestRBACIsLeastPrivilege renders every golden case and proves, for every
// cluster, that its Role and ClusterRole grant exactly what its rendered
// requests' templates ask for (no more, no less), that every grant is one
// bindsync's policy allows at all, and that only its own agent is bound.
func TestRBACIsLeastPrivilege(t *testing.T) {
	cases, err := os.ReadDir(goldenRoot)
	require.NoError(t, err)
	for _, c := range cases {
		if !c.IsDir() {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			in := loadCase(t, c.Name())
			out := render.Render(in)
			templates := map[string][]string{} // cluster -> templates of its rendered requests
			for _, r := range out.Requests {
				if r.Rendered {
					templates[r.Cluster] = append(templates[r.Cluster], r.Template)
				}
			}
			var clusters []string
			for _, p := range out.Tree.Paths() {
				if cluster, ok := strings.CutSuffix(p, "/control-plane/rbac.yaml"); ok {
					clusters = append(clusters, strings.TrimPrefix(cluster, "clusters/"))
				}
			}
			require.NotEmpty(t, clusters)
			for _, cluster := range clusters {
				t.Run(cluster, func(t *testing.T) {
					got := renderedGrants(t, cluster, out.Tree[staterepo.ControlPlaneDir(cluster)+"/rbac.yaml"])
					inst := instanceGrants(t, cluster, out.Tree)
					for g := range inst {
						got[g] = true
					}
					_, withNamespaces := out.Tree[staterepo.NamespacesDir(cluster)+"/kustomization.yaml"]
					want := wantedGrants(t, in, templates[cluster], withNamespaces)
					assert.Equal(t, want.sorted(), got.sorted(), "the grants of %s", cluster)

					var boundGroups []string
					for _, name := range templates[cluster] {
						for _, res := range findTemplate(t, in, name).Spec.Resources {
							boundGroups = append(boundGroups, res.Group)
						}
					}
					var refused []string
					for g := range got {
						if why := allowedByPolicy(g, boundGroups); why != "" {
							refused = append(refused, fmt.Sprintf("%s, which %s", g, why))
						}
					}
					sort.Strings(refused)
					assert.Empty(t, refused, "grants of %s that bindsync's policy never allows", cluster)
				})
			}
		})
	}
}

func findTemplate(t *testing.T, in render.Input, name string) v1alpha1.APIServiceExportTemplate {
	t.Helper()
	for _, tpl := range in.Templates {
		if tpl.Name == name {
			return tpl
		}
	}
	require.Failf(t, "no template", "the input has no template %q", name)
	return v1alpha1.APIServiceExportTemplate{}
}

func findCRD(t *testing.T, in render.Input, name string) apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	for _, crd := range in.CRDs {
		if crd.Name == name {
			return crd
		}
	}
	require.Failf(t, "no CRD", "the input has no CRD %q", name)
	return apiextensionsv1.CustomResourceDefinition{}
}
