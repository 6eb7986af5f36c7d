package render_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// assertSameOutput requires two renders to be the same byte for byte: the
// same paths, the same bytes at each, the same problems, warnings and
// request results.
func assertSameOutput(t *testing.T, want, got render.Output, step string) {
	t.Helper()
	require.Equal(t, want.Tree.Paths(), got.Tree.Paths(), "%s: other files", step)
	for _, p := range want.Tree.Paths() {
		assert.True(t, bytes.Equal(want.Tree[p], got.Tree[p]), "%s: %s has other bytes:\n%s\n---\n%s", step, p, want.Tree[p], got.Tree[p])
	}
	assert.Equal(t, want.Problems, got.Problems, step)
	assert.Equal(t, want.Warnings, got.Warnings, step)
	assert.Equal(t, want.Requests, got.Requests, step)
}

// TestCachedRenderIsRender renders every golden case through one Cache,
// in order, again warm, and in reverse order: each render must equal a
// render without a cache of a deep copy of the same input.
func TestCachedRenderIsRender(t *testing.T) {
	entries, err := os.ReadDir(goldenRoot)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	require.NotEmpty(t, names)
	cache := render.NewCache()
	order := append(append(slices.Clone(names), names...), reversed(names)...)
	for i, name := range order {
		in := loadCase(t, name)
		out := cache.Render(in)
		assertSameOutput(t, render.Render(copyInput(in)), out, fmt.Sprintf("render %d (%s)", i, name))
		for _, r := range out.Requests {
			for _, e := range r.Exports {
				assert.Contains(t, out.Tree, staterepo.ExportPath(r.Cluster, e.Name), "%s: the export is where staterepo.ExportPath says", name)
				assert.Contains(t, out.Tree, staterepo.CRDPath(r.Cluster, e.Name), "%s: the CRD is where staterepo.CRDPath says", name)
			}
		}
	}
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

// TestCachedRenderFollowsEveryChange walks one input through a sequence of
// changes, each made in place on the objects the cache has already seen
// (same slices, same names, same resourceVersions), and renders each step
// through one Cache: every step must equal a render without a cache.
func TestCachedRenderFollowsEveryChange(t *testing.T) {
	in := scaleInput(t, 4, 4)
	in.Templates[1].Spec.Resources = append(in.Templates[1].Spec.Resources, v1alpha1.GroupResource{
		Group: in.CRDs[5].Spec.Group, Resource: in.CRDs[5].Spec.Names.Plural}) // a template binding two CRDs
	for i := range in.CRDs {
		in.CRDs[i].ResourceVersion = "1"
	}
	rng := rand.New(rand.NewSource(1))
	base := copyInput(in)
	steps := []struct {
		name   string
		change func(in *render.Input)
	}{
		{"first render", func(*render.Input) {}},
		{"unchanged", func(*render.Input) {}},
		{"input order shuffled", func(in *render.Input) {
			*in = render.Input{CRDs: shuffledCopy(rng, in.CRDs), Templates: shuffledCopy(rng, in.Templates),
				Clusters: shuffledCopy(rng, in.Clusters), Requests: shuffledCopy(rng, in.Requests), Namespaces: shuffledCopy(rng, in.Namespaces)}
		}},
		{"back to the first input", func(in *render.Input) { *in = copyInput(base) }},
		{"new optional field in a CRD's schema", func(in *render.Input) { addField(crdNamed(t, in, base.CRDs[0].Name), "newField") }},
		{"one new request for a new template", func(in *render.Input) {
			c := crdNamed(t, in, base.CRDs[6].Name)
			in.Templates = append(in.Templates, v1alpha1.APIServiceExportTemplate{
				ObjectMeta: metav1.ObjectMeta{Name: "new"},
				Spec:       v1alpha1.APIServiceExportTemplateSpec{Resources: []v1alpha1.GroupResource{{Group: c.Spec.Group, Resource: c.Spec.Names.Plural}}},
			})
			in.Requests = append(in.Requests, requestFor("cluster-0001", "new", "new"))
		}},
		{"a request for a CRD the cluster already binds", func(in *render.Input) {
			in.Requests = append(in.Requests, requestFor("cluster-0001", "again", in.Templates[2].Name))
		}},
		{"claim verbs changed", func(in *render.Input) {
			in.Templates[0].Spec.PermissionClaims[0].Verbs = []v1alpha1.Verb{"get"}
		}},
		{"claim on named objects added", func(in *render.Input) {
			in.Templates[0].Spec.PermissionClaims = append(in.Templates[0].Spec.PermissionClaims, v1alpha1.PermissionClaim{
				GroupResource: v1alpha1.GroupResource{Resource: "configmaps"}, Verbs: []v1alpha1.Verb{"get"}, ResourceNames: []string{"settings"}})
		}},
		{"CRD becomes cluster-scoped", func(in *render.Input) {
			crdNamed(t, in, base.CRDs[1].Name).Spec.Scope = apiextensionsv1.ClusterScoped
		}},
		{"CRD gains the api-approved annotation", func(in *render.Input) {
			crdNamed(t, in, base.CRDs[2].Name).Annotations = map[string]string{apiextensionsv1.KubeAPIApprovedAnnotation: "https://example.com/pull/1"}
		}},
		{"CRD served version removed", func(in *render.Input) {
			c := crdNamed(t, in, base.CRDs[3].Name)
			c.Spec.Versions[0].Served = !c.Spec.Versions[0].Served
		}},
		{"CRD becomes invalid (no storage version)", func(in *render.Input) {
			c := crdNamed(t, in, base.CRDs[3].Name)
			for i := range c.Spec.Versions {
				c.Spec.Versions[i].Storage = false
			}
		}},
		{"CRD valid again", func(in *render.Input) {
			c := crdNamed(t, in, base.CRDs[3].Name)
			c.Spec.Versions[len(c.Spec.Versions)-1].Storage = true
		}},
		{"cluster removed", func(in *render.Input) { in.Clusters = in.Clusters[1:] }},
		{"cluster added with every template", func(in *render.Input) {
			in.Clusters = append(in.Clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "cluster-new"}})
			for _, tpl := range in.Templates {
				in.Requests = append(in.Requests, requestFor("cluster-new", tpl.Name, tpl.Name))
			}
		}},
		{"template renamed", func(in *render.Input) {
			old := in.Templates[3].Name
			in.Templates[3].Name = "renamed"
			for i := range in.Requests {
				if in.Requests[i].Spec.TemplateRef.Name == old {
					in.Requests[i].Spec.TemplateRef.Name = "renamed"
				}
			}
		}},
		{"a request duplicated with other content", func(in *render.Input) {
			dup := *in.Requests[0].DeepCopy()
			dup.Spec.TemplateRef.Name = in.Templates[1].Name
			in.Requests = append(in.Requests, dup)
		}},
		{"the schema change reverted", func(in *render.Input) {
			*crdNamed(t, in, base.CRDs[0].Name) = *base.CRDs[0].DeepCopy()
		}},
		{"back to the first input again", func(in *render.Input) { *in = copyInput(base) }},
	}
	cache := render.NewCache()
	for _, s := range steps {
		s.change(&in)
		assertSameOutput(t, render.Render(copyInput(in)), cache.Render(in), s.name)
	}
}

// TestCachedRenderNeverServesAChangedCRDStale changes a CRD's schema in
// place, keeping its name and resourceVersion: the next render through the
// cache carries the new schema and its new hash.
func TestCachedRenderNeverServesAChangedCRDStale(t *testing.T) {
	in := scaleInput(t, 2, 2)
	in.CRDs[0].ResourceVersion = "7"
	cache := render.NewCache()
	before := cache.Render(in)
	require.Empty(t, before.Problems)
	export := staterepo.ExportPath("cluster-0000", in.CRDs[0].Name)
	crd := staterepo.CRDPath("cluster-0001", in.CRDs[0].Name)
	require.NotContains(t, string(before.Tree[export]), "addedInPlace")

	addField(&in.CRDs[0], "addedInPlace")
	after := cache.Render(in)

	assert.Contains(t, string(after.Tree[export]), "addedInPlace", "the export carries the new schema")
	assert.Contains(t, string(after.Tree[crd]), "addedInPlace", "the app cluster's CRD carries the new schema")
	assert.NotEqual(t, before.Requests[0].Exports[0].SchemaHash, after.Requests[0].Exports[0].SchemaHash, "the schema hash follows")
	assertSameOutput(t, render.Render(copyInput(in)), after, "after the change")
}

// TestCacheDropsWhatRecentRendersDidNotUse renders many schema versions of
// one CRD, then the first input several times: the cache ends up holding
// exactly what a cache that only ever rendered the first input holds.
func TestCacheDropsWhatRecentRendersDidNotUse(t *testing.T) {
	in := scaleInput(t, 3, 3)
	fresh := render.NewCache()
	fresh.Render(in)
	require.Positive(t, fresh.Len())

	cache := render.NewCache()
	for n := range 10 {
		changed := copyInput(in)
		addField(&changed.CRDs[0], fmt.Sprintf("field%d", n))
		changed.Clusters = append(changed.Clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("extra-%d", n)}})
		cache.Render(changed)
	}
	assert.Greater(t, cache.Len(), fresh.Len(), "recent renders' entries are kept")
	for range 4 {
		cache.Render(in)
	}
	assert.Equal(t, fresh.Len(), cache.Len(), "nothing the last four renders did not use is left")
}

// addField adds an optional string field to spec in every version of crd.
func addField(crd *apiextensionsv1.CustomResourceDefinition, name string) {
	for i := range crd.Spec.Versions {
		root := crd.Spec.Versions[i].Schema.OpenAPIV3Schema
		spec := root.Properties["spec"]
		props := map[string]apiextensionsv1.JSONSchemaProps{}
		for k, v := range spec.Properties {
			props[k] = v
		}
		props[name] = apiextensionsv1.JSONSchemaProps{Type: "string"}
		spec.Properties = props
		root.Properties["spec"] = spec
	}
}

func requestFor(cluster, name, template string) v1alpha1.APIServiceExportRequest {
	return v1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v1alpha1.ClusterNamespace(cluster)},
		Spec:       v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: template}},
	}
}

// TestValidateClusterName pins which names can name an app cluster (its
// quick path for valid names must agree with the full check).
func TestValidateClusterName(t *testing.T) {
	cases := []struct {
		name  string
		valid bool
	}{
		{"c1", true},
		{"a", true},
		{"0", true},
		{"cluster-0001", true},
		{"a-b-c", true},
		{strings.Repeat("a", v1alpha1.MaxClusterNameLength), true},
		{strings.Repeat("a", v1alpha1.MaxClusterNameLength+1), false},
		{"", false},
		{"-a", false},
		{"a-", false},
		{"A", false},
		{"a_b", false},
		{"a.b", false},
		{"../x", false},
		{"a b", false},
		{"é", false},
	}
	for _, c := range cases {
		msg := render.ValidateClusterName(c.name)
		assert.Equal(t, c.valid, msg == "", "%q: %s", c.name, msg)
		if !c.valid {
			assert.Contains(t, msg, fmt.Sprintf("%q", c.name), "the message names the cluster")
		}
	}
}
