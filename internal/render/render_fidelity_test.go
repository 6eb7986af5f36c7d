package render_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// TestTheAppCRDKeepsTheProvidersApprovalAndOrder: the CRD an app cluster gets
// carries the provider's api-approved.kubernetes.io annotation next to
// bindsync's own (an API server refuses a CRD of a *.k8s.io group without
// it), and its lists in the provider's order.
func TestTheAppCRDKeepsTheProvidersApprovalAndOrder(t *testing.T) {
	in := loadCase(t, "protected-group-crd")
	out := render.Render(in)
	require.Empty(t, out.Problems)
	require.Len(t, in.CRDs, 1)
	provider := in.CRDs[0]

	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, yaml.UnmarshalStrict(out.Tree[staterepo.CRDPath("c1", provider.Name)], &crd))
	var export v1alpha1.APIServiceExport
	require.NoError(t, yaml.UnmarshalStrict(out.Tree[staterepo.ExportPath("c1", provider.Name)], &export))

	approval := provider.Annotations[apiextensionsv1.KubeAPIApprovedAnnotation]
	require.NotEmpty(t, approval)
	t.Run("the approval annotation travels, next to bindsync's", func(t *testing.T) {
		assert.Equal(t, map[string]string{
			apiextensionsv1.KubeAPIApprovedAnnotation: approval,
			v1alpha1.SchemaHashAnnotation:             export.Spec.SchemaHash,
			v1alpha1.TemplateAnnotation:               "widgets",
		}, crd.Annotations, "the provider's other annotations stay behind")
		assert.Equal(t, map[string]string{apiextensionsv1.KubeAPIApprovedAnnotation: approval}, export.Spec.Annotations,
			"the export's snapshot carries it, so the schema hash covers it")
	})

	t.Run("lists keep the provider's order", func(t *testing.T) {
		enumOf := func(c apiextensionsv1.CustomResourceDefinition) []string {
			var values []string
			for _, v := range c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["logLevel"].Enum {
				values = append(values, string(v.Raw))
			}
			return values
		}
		assert.Equal(t, enumOf(provider), enumOf(crd))
		assert.Equal(t, provider.Spec.Names.ShortNames, crd.Spec.Names.ShortNames)
		assert.Equal(t, provider.Spec.Names.Categories, crd.Spec.Names.Categories)
		spec := func(c apiextensionsv1.CustomResourceDefinition) apiextensionsv1.JSONSchemaProps {
			return c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		}
		assert.Equal(t, spec(provider).Required, spec(crd).Required)
		assert.Equal(t, spec(provider).XValidations, spec(crd).XValidations)
		var want, got []string
		for i := range provider.Spec.Versions {
			want = append(want, provider.Spec.Versions[i].Name)
		}
		for i := range crd.Spec.Versions {
			got = append(got, crd.Spec.Versions[i].Name)
		}
		assert.Equal(t, want, got)
	})
}
