package render_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
)

// legitOnly is the hostile-claims case reduced to its legitimate cluster,
// whose template binds widgets.example.org; each test replaces its claims.
func legitOnly(t *testing.T, claims ...v1alpha1.PermissionClaim) render.Input {
	t.Helper()
	in := loadCase(t, "hostile-claims")
	in.Clusters = []v1alpha1.AppCluster{{ObjectMeta: metav1.ObjectMeta{Name: "legit"}}}
	var reqs []v1alpha1.APIServiceExportRequest
	for _, r := range in.Requests {
		if r.Namespace == "bindsync-legit" {
			reqs = append(reqs, r)
		}
	}
	in.Requests = reqs
	tpl := findTemplate(t, in, "legit")
	tpl.Spec.PermissionClaims = claims
	in.Templates = []v1alpha1.APIServiceExportTemplate{tpl}
	return in
}

func claim(group, resource string, names []string, verbs ...v1alpha1.Verb) v1alpha1.PermissionClaim {
	return v1alpha1.PermissionClaim{GroupResource: v1alpha1.GroupResource{Group: group, Resource: resource}, ResourceNames: names, Verbs: verbs}
}

func TestPermissionClaimsAreAnAllowlist(t *testing.T) {
	const refusal = "APIServiceExportTemplate legit: InvalidTemplate: spec.permissionClaims[0] "
	for name, tc := range map[string]struct {
		claim   v1alpha1.PermissionClaim
		problem string // "" when the claim renders
	}{
		"secrets":                         {claim: claim("", "secrets", nil, "get", "list", "watch")},
		"configmaps by name":              {claim: claim("", "configmaps", []string{"settings", "more.settings"}, "get", "update")},
		"a resource of the bound group":   {claim: claim("example.org", "gadgets", nil, "get", "list")},
		"every claim verb":                {claim: claim("", "secrets", nil, v1alpha1.ClaimVerbs...)},
		"pods":                            {claim: claim("", "pods", nil, "create"), problem: `core resource "pods" cannot be claimed: of the core group only configmaps and secrets are claimable`},
		"namespaces":                      {claim: claim("", "namespaces", nil, "update", "delete"), problem: `core resource "namespaces" cannot be claimed`},
		"resourcequotas":                  {claim: claim("", "resourcequotas", nil, "create"), problem: `core resource "resourcequotas" cannot be claimed`},
		"serviceaccounts":                 {claim: claim("", "serviceaccounts", nil, "get"), problem: `core resource "serviceaccounts" cannot be claimed`},
		"serviceaccounts/token":           {claim: claim("", "serviceaccounts/token", nil, "create"), problem: `resource "serviceaccounts/token" is not a plain resource name: wildcards and sub-resources`},
		"pods/exec":                       {claim: claim("", "pods/exec", nil, "create", "get"), problem: `resource "pods/exec" is not a plain resource name`},
		"a sub-resource of a bound group": {claim: claim("example.org", "gadgets/status", nil, "update"), problem: `resource "gadgets/status" is not a plain resource name`},
		"a wildcard resource":             {claim: claim("", "*", nil, "get"), problem: `resource "*" is not a plain resource name`},
		"a wildcard verb":                 {claim: claim("", "secrets", nil, "*"), problem: `verb "*" is not one of get, list, watch, create, update, patch, delete, deletecollection`},
		"no verbs":                        {claim: claim("", "secrets", nil), problem: `verbs is empty`},
		"leases":                          {claim: claim("coordination.k8s.io", "leases", nil, "create", "update"), problem: `group "coordination.k8s.io" cannot be claimed: it is served by Kubernetes itself`},
		"a group no bound resource is in": {claim: claim("other.org", "things", nil, "get"), problem: `group "other.org" is not the group of a resource this template binds (example.org)`},
		"RBAC":                            {claim: claim("rbac.authorization.k8s.io", "roles", nil, "create"), problem: `group "rbac.authorization.k8s.io" cannot be claimed: it would let an app cluster widen its own access`},
		"a group holding a separator":     {claim: claim("g|x", "secrets", []string{"y"}, "get"), problem: `group "g|x" is neither empty (the core group) nor a DNS subdomain`},
		"an empty resource name":          {claim: claim("", "secrets", []string{""}, "get", "list", "watch", "create", "delete"), problem: `resourceNames[0] is empty: RBAC matches an empty name against list and create requests, which name no object, so it would grant every object`},
		"a resource name with a comma":    {claim: claim("", "configmaps", []string{"settings", "a,b"}, "get"), problem: `resourceNames[1] "a,b" is not a DNS subdomain`},
		"an upper-case resource name":     {claim: claim("", "secrets", []string{"Key"}, "get"), problem: `resourceNames[0] "Key" is not a DNS subdomain`},
	} {
		t.Run(name, func(t *testing.T) {
			out := render.Render(legitOnly(t, tc.claim))
			if tc.problem == "" {
				assert.Empty(t, out.Problems)
				require.Len(t, out.Requests, 1)
				assert.True(t, out.Requests[0].Rendered)
				return
			}
			problems := problemsOf(out)
			assert.Contains(t, problems, fmt.Sprintf("%s(group %q, resource %q): ", refusal, tc.claim.Group, tc.claim.Resource), "the problem names the claim")
			assert.Contains(t, problems, tc.problem)
			require.Len(t, out.Requests, 1)
			assert.False(t, out.Requests[0].Rendered, "a request for a refused template renders nothing")
			assert.NotContains(t, string(out.Tree["clusters/legit/control-plane/rbac.yaml"]), "- "+tc.claim.Resource+"\n",
				"the refused claim's resource is granted nowhere")
		})
	}
}

func TestNothingInAGroupKubernetesServesItselfIsBoundOrClaimed(t *testing.T) {
	in := legitOnly(t, claim("coordination.k8s.io", "leases", nil, "create"))
	crd := findCRD(t, in, "widgets.example.org")
	crd.Spec.Group = "coordination.k8s.io"
	crd.Name = "widgets.coordination.k8s.io"
	in.CRDs = append(in.CRDs, crd)
	in.Templates[0].Spec.Resources = append(in.Templates[0].Spec.Resources, v1alpha1.GroupResource{Group: crd.Spec.Group, Resource: "widgets"})
	out := render.Render(in)
	assert.Contains(t, problemsOf(out), `widgets.coordination.k8s.io cannot be bound: group "coordination.k8s.io" is served by Kubernetes itself`)
	assert.NotContains(t, string(out.Tree["clusters/legit/control-plane/rbac.yaml"]), "leases")

	in = legitOnly(t, claim("coordination.k8s.io", "leases", nil, "create"))
	out = render.Render(in)
	assert.Contains(t, problemsOf(out), `group "coordination.k8s.io" cannot be claimed: it is served by Kubernetes itself`)
}

func TestAClaimInAKubernetesCRDGroupTheTemplateBindsIsGranted(t *testing.T) {
	in := legitOnly(t, claim("gateway.networking.k8s.io", "referencegrants", nil, "get"))
	crd := findCRD(t, in, "widgets.example.org")
	crd.Spec.Group = "gateway.networking.k8s.io"
	crd.Name = "widgets.gateway.networking.k8s.io"
	in.CRDs = append(in.CRDs, crd)
	in.Templates[0].Spec.Resources = append(in.Templates[0].Spec.Resources, v1alpha1.GroupResource{Group: crd.Spec.Group, Resource: "widgets"})
	out := render.Render(in)
	assert.Empty(t, problemsOf(out))
	assert.Contains(t, string(out.Tree["clusters/legit/control-plane/rbac.yaml"]), "referencegrants")
}

func TestABoundResourceGroupMustBeADNSSubdomain(t *testing.T) {
	in := legitOnly(t)
	in.Templates[0].Spec.Resources = []v1alpha1.GroupResource{{Group: "example.org|x", Resource: "widgets"}}
	out := render.Render(in)
	assert.Contains(t, problemsOf(out), `APIServiceExportTemplate legit: InvalidTemplate: spec.resources[0]: group "example.org|x" is neither empty (the core group) nor a DNS subdomain`)
}

func TestClaimsOnNamedObjectsWarnWhatRBACReallyGrants(t *testing.T) {
	for name, tc := range map[string]struct {
		verbs   []v1alpha1.Verb
		warning string // "" when RBAC grants every verb as asked
	}{
		"get, update, patch and delete address one object": {verbs: []v1alpha1.Verb{"get", "update", "patch", "delete"}},
		"list and watch need a field selector on the name": {
			verbs:   []v1alpha1.Verb{"get", "watch", "list"},
			warning: `with resourceNames, RBAC allows list and watch only for requests that select one named object (field selector metadata.name=<name>), never for all of them`,
		},
		"create and deletecollection are never allowed": {
			verbs:   []v1alpha1.Verb{"deletecollection", "create", "get"},
			warning: `with resourceNames, RBAC never allows create or deletecollection on named objects`,
		},
		"both": {
			verbs:   v1alpha1.ClaimVerbs,
			warning: `with resourceNames, RBAC allows list and watch only for requests that select one named object (field selector metadata.name=<name>), never for all of them; RBAC never allows create or deletecollection on named objects`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			out := render.Render(legitOnly(t, claim("", "configmaps", []string{"settings"}, tc.verbs...)))
			require.Empty(t, out.Problems)
			if tc.warning == "" {
				assert.Empty(t, out.Warnings)
				return
			}
			require.Len(t, out.Warnings, 1)
			assert.Equal(t, v1alpha1.IneffectiveClaimReason, out.Warnings[0].Reason, "a warning is not InvalidTemplate")
			assert.Contains(t, out.Warnings[0].String(), `APIServiceExportTemplate legit: IneffectiveClaim: spec.permissionClaims[0] (group "", resource "configmaps"): `+tc.warning)
		})
	}
}

func TestEveryClusterNamespaceEnforcesTheRestrictedPodSecurityStandard(t *testing.T) {
	cases, err := os.ReadDir(goldenRoot)
	require.NoError(t, err)
	for _, c := range cases {
		out := render.Render(loadCase(t, c.Name()))
		for _, p := range out.Tree.Paths() {
			cluster, ok := cutClusterFile(p, "/control-plane/namespace.yaml")
			if !ok {
				continue
			}
			var ns corev1.Namespace
			require.NoError(t, yaml.Unmarshal(out.Tree[p], &ns))
			assert.Equal(t, v1alpha1.ClusterNamespace(cluster), ns.Name, p)
			assert.Equal(t, "restricted", ns.Labels["pod-security.kubernetes.io/enforce"], "%s: %s", c.Name(), p)
		}
	}
}

func cutClusterFile(p, suffix string) (cluster string, ok bool) {
	rest, ok := strings.CutSuffix(p, suffix)
	if !ok {
		return "", false
	}
	return strings.TrimPrefix(rest, "clusters/"), true
}
