package schema

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

func loadCRD(t testing.TB, path string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, yaml.UnmarshalStrict(b, crd), path)
	return crd
}

func klutchCRDs(t testing.TB) map[string]*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	paths, err := filepath.Glob("../../testdata/crds/klutch/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, paths, "testdata/crds/klutch holds the real CRDs")
	out := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, p := range paths {
		crd := loadCRD(t, p)
		out[crd.Name] = crd
	}
	return out
}

func TestSnapshotRoundTripKeepsEverySchemaOfTheRealCRDs(t *testing.T) {
	for name, crd := range klutchCRDs(t) {
		t.Run(name, func(t *testing.T) {
			snap, err := Snapshot(crd)
			require.NoError(t, err)
			back, err := ToCRD(snap)
			require.NoError(t, err)

			assert.Equal(t, crd.Name, back.Name)
			assert.Equal(t, crd.Spec.Group, back.Spec.Group)
			assert.Equal(t, crd.Spec.Names, back.Spec.Names)
			assert.Equal(t, crd.Spec.Scope, back.Spec.Scope)
			require.Len(t, back.Spec.Versions, len(crd.Spec.Versions))
			for i, v := range crd.Spec.Versions {
				got := back.Spec.Versions[i]
				want := v.Schema.OpenAPIV3Schema.DeepCopy()
				canonicalizeProps(want)
				assert.Equal(t, want, got.Schema.OpenAPIV3Schema, "schema of %s", v.Name)
				assert.Equal(t, v.AdditionalPrinterColumns, got.AdditionalPrinterColumns)
				assert.Equal(t, v.Subresources, got.Subresources)
				assert.Equal(t, v.Served, got.Served)
				assert.Equal(t, v.Storage, got.Storage)
			}
			again, err := Snapshot(back)
			require.NoError(t, err)
			h1, err := Hash(snap)
			require.NoError(t, err)
			h2, err := Hash(again)
			require.NoError(t, err)
			assert.Equal(t, h1, h2, "CRD -> snapshot -> CRD -> snapshot keeps the hash")
		})
	}
}

func TestHashIgnoresOrderThatCarriesNoMeaning(t *testing.T) {
	crd := loadCRD(t, "../../testdata/crds/klutch/postgresqlinstances.anynines.com.yaml")
	base := mustHash(t, crd)

	reordered := crd.DeepCopy()
	spec := reordered.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	reverse(spec.Required)
	xv := spec.XValidations
	for i, j := 0, len(xv)-1; i < j; i, j = i+1, j-1 {
		xv[i], xv[j] = xv[j], xv[i]
	}
	for k, p := range spec.Properties {
		for i, j := 0, len(p.Enum)-1; i < j; i, j = i+1, j-1 {
			p.Enum[i], p.Enum[j] = p.Enum[j], p.Enum[i]
		}
		spec.Properties[k] = p
	}
	reordered.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
	reverse(reordered.Spec.Names.Categories)
	assert.Equal(t, base, mustHash(t, reordered))

	// YAML key order never reaches the hash: re-encode with keys in another order.
	b, err := os.ReadFile("../../testdata/crds/klutch/postgresqlinstances.anynines.com.yaml")
	require.NoError(t, err)
	j, err := yaml.YAMLToJSON(b)
	require.NoError(t, err)
	fromJSON := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, yaml.Unmarshal(j, fromJSON))
	assert.Equal(t, base, mustHash(t, fromJSON))
}

func TestHashChangesWithEveryRealSchemaChange(t *testing.T) {
	crd := loadCRD(t, "../../testdata/crds/klutch/postgresqlinstances.anynines.com.yaml")
	base := mustHash(t, crd)
	edits := map[string]func(c *apiextensionsv1.CustomResourceDefinition){
		"field removed": func(c *apiextensionsv1.CustomResourceDefinition) {
			delete(c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties, "plan")
		},
		"description changed": func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Versions[0].Schema.OpenAPIV3Schema.Description = "another description"
		},
		"printer column added": func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Versions[0].AdditionalPrinterColumns = append(c.Spec.Versions[0].AdditionalPrinterColumns,
				apiextensionsv1.CustomResourceColumnDefinition{Name: "Plan", Type: "string", JSONPath: ".spec.plan"})
		},
		"short name added": func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Names.ShortNames = append(c.Spec.Names.ShortNames, "pg")
		},
		"scope changed": func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Scope = apiextensionsv1.ClusterScoped },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			c := crd.DeepCopy()
			edit(c)
			assert.NotEqual(t, base, mustHash(t, c))
		})
	}
}

func TestSnapshotOfMultiVersionCRD(t *testing.T) {
	crd := loadCRD(t, "../../testdata/crds/klutch/postgresqlinstances.anynines.com.yaml")
	v1 := crd.Spec.Versions[0]
	beta := *v1.DeepCopy()
	beta.Name, beta.Storage, beta.Deprecated = "v1beta1", false, true
	crd.Spec.Versions = append(crd.Spec.Versions, beta)

	t.Run("strategy None keeps every version", func(t *testing.T) {
		snap, err := Snapshot(crd)
		require.NoError(t, err)
		require.Len(t, snap.Versions, 2)
		assert.Equal(t, "v1", snap.Versions[0].Name)
		assert.Equal(t, "v1beta1", snap.Versions[1].Name)
		assert.Empty(t, snap.DroppedVersions)
		back, err := ToCRD(snap)
		require.NoError(t, err)
		assert.Equal(t, apiextensionsv1.NoneConverter, back.Spec.Conversion.Strategy)
	})

	t.Run("webhook conversion keeps only the storage version and names the rest", func(t *testing.T) {
		c := crd.DeepCopy()
		c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter}
		snap, err := Snapshot(c)
		require.NoError(t, err)
		require.Len(t, snap.Versions, 1)
		assert.Equal(t, "v1", snap.Versions[0].Name)
		assert.True(t, snap.Versions[0].Storage)
		assert.True(t, snap.Versions[0].Served)
		assert.Equal(t, []string{"v1beta1"}, snap.DroppedVersions)
		back, err := ToCRD(snap)
		require.NoError(t, err)
		assert.Equal(t, apiextensionsv1.NoneConverter, back.Spec.Conversion.Strategy, "the app cluster never calls a webhook")
	})
}

func TestSnapshotRejectsCRDsThatCannotBeExported(t *testing.T) {
	crd := loadCRD(t, "../../testdata/crds/klutch/backups.anynines.com.yaml")
	cases := map[string]struct {
		edit func(c *apiextensionsv1.CustomResourceDefinition)
		want string
	}{
		"no versions":       {func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions = nil }, "has no versions"},
		"no storage":        {func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[0].Storage = false }, "storage version"},
		"version no schema": {func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[0].Schema = nil }, "version v1 has no openAPIV3Schema"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := crd.DeepCopy()
			tc.edit(c)
			_, err := Snapshot(c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "backups.anynines.com")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func mustHash(t *testing.T, crd *apiextensionsv1.CustomResourceDefinition) string {
	t.Helper()
	snap, err := Snapshot(crd)
	require.NoError(t, err)
	h, err := Hash(snap)
	require.NoError(t, err)
	require.Len(t, h, 64)
	return h
}

func reverse(s []string) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

func TestHashIgnoresKeyOrderInsideDefaultsAndEnumValues(t *testing.T) {
	crd := loadCRD(t, "../../testdata/crds/klutch/backups.anynines.com.yaml")
	withDefault := func(raw string) *apiextensionsv1.CustomResourceDefinition {
		c := crd.DeepCopy()
		spec := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		spec.Default = &apiextensionsv1.JSON{Raw: []byte(raw)}
		c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
		return c
	}
	assert.Equal(t, mustHash(t, withDefault(`{"a":1,"b":{"c":2,"d":3}}`)), mustHash(t, withDefault(`{ "b": {"d":3, "c":2}, "a": 1 }`)))
	assert.NotEqual(t, mustHash(t, withDefault(`{"a":1}`)), mustHash(t, withDefault(`{"a":2}`)))
}

func TestHashIgnoresTheOrderOfCELRulesThatShareTheirText(t *testing.T) {
	crd := loadCRD(t, "../../testdata/crds/klutch/backups.anynines.com.yaml")
	reason := apiextensionsv1.FieldValueForbidden
	rules := apiextensionsv1.ValidationRules{
		{Rule: "self.size() > 0", Message: "m"},
		{Rule: "self.size() > 0", Message: "m", Reason: &reason, FieldPath: ".x"},
	}
	with := func(r apiextensionsv1.ValidationRules) *apiextensionsv1.CustomResourceDefinition {
		c := crd.DeepCopy()
		spec := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		spec.XValidations = r
		c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
		return c
	}
	assert.Equal(t, mustHash(t, with(rules)), mustHash(t, with(apiextensionsv1.ValidationRules{rules[1], rules[0]})))
}
