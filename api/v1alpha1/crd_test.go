package v1alpha1_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // defines -update for go test ./... -update
)

// generatedSchema reads a CRD of config/crd (as make generate wrote it) and
// returns the schema of its only version.
func generatedSchema(t *testing.T, plural string) apiextensionsv1.JSONSchemaProps {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bindsync.io_"+plural+".yaml"))
	require.NoError(t, err)
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, yaml.UnmarshalStrict(data, &crd))
	require.Len(t, crd.Spec.Versions, 1)
	return *crd.Spec.Versions[0].Schema.OpenAPIV3Schema
}

func TestTheGeneratedClaimVerbEnumIsClaimVerbs(t *testing.T) {
	var want []string
	for _, v := range v1alpha1.ClaimVerbs {
		want = append(want, string(v))
	}
	for _, plural := range []string{"apiserviceexporttemplates", "apiserviceexports"} {
		t.Run(plural, func(t *testing.T) {
			s := generatedSchema(t, plural)
			verbs := s.Properties["spec"].Properties["permissionClaims"].Items.Schema.Properties["verbs"].Items.Schema
			var got []string
			for _, e := range verbs.Enum {
				var v string
				require.NoError(t, json.Unmarshal(e.Raw, &v))
				got = append(got, v)
			}
			assert.Equal(t, want, got, "the enum marker on Verb must list v1alpha1.ClaimVerbs, in order (then run make generate)")
		})
	}
}

func TestRequestStatusExportsAreAListMapByName(t *testing.T) {
	s := generatedSchema(t, "apiserviceexportrequests")
	exports := s.Properties["status"].Properties["exports"]
	require.Equal(t, "array", exports.Type)
	require.NotNil(t, exports.XListType)
	assert.Equal(t, "map", *exports.XListType)
	assert.Equal(t, []string{"name"}, exports.XListMapKeys)
	item := exports.Items.Schema
	assert.Equal(t, "object", item.Type)
	assert.Contains(t, item.Properties, "name")
	assert.Contains(t, item.Properties, "schemaHash")
	assert.Equal(t, []string{"name"}, item.Required)
}
