package compat

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

// CompareSchemas judges the change of one version's openAPIV3Schema: what
// Compare runs for every version present in both CRDs, for tests of the
// schema rules alone; version names the version in the findings.
func CompareSchemas(version string, oldSchema, newSchema *apiextensionsv1.JSONSchemaProps) Report {
	c := &collector{}
	compareRootSchemas(c, version, oldSchema, newSchema)
	sortFindings(c.findings)
	return Report{Findings: c.findings}
}

// Rules returns a copy of the rule catalogue, in documentation order, for
// the tests that check every rule is documented and exercised.
func Rules() []RuleInfo {
	out := make([]RuleInfo, len(catalogue))
	copy(out, catalogue)
	return out
}

// widgetYAML is the small CRD the rule table edits. It has a field of
// every shape the rules care about.
const widgetYAML = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    kind: Widget
    listKind: WidgetList
    plural: widgets
    singular: widget
    shortNames: [wd]
    categories: [all]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Mode
      type: string
      jsonPath: .spec.mode
    selectableFields:
    - jsonPath: .spec.mode
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [mode]
            x-kubernetes-validations:
            - rule: self.size >= 0
              message: size must not be negative
            properties:
              name:
                type: string
                description: The widget's display name.
              size:
                type: integer
              ratio:
                type: number
              mode:
                type: string
                enum: [fast, slow]
              tags:
                type: array
                items:
                  type: string
              labels:
                type: object
                additionalProperties:
                  type: string
              items:
                type: array
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
                items:
                  type: object
                  required: [name]
                  properties:
                    name:
                      type: string
                    port:
                      type: integer
              template:
                type: object
                x-kubernetes-preserve-unknown-fields: true
              config:
                type: object
                properties:
                  level:
                    type: string
          status:
            type: object
            properties:
              phase:
                type: string
              replicas:
                type: integer
`

// newWidget returns a fresh copy of the widget CRD.
func newWidget(t testing.TB) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, yaml.Unmarshal([]byte(widgetYAML), crd))
	return crd
}

// loadKlutchCRD reads a CRD from testdata/crds/klutch.
func loadKlutchCRD(t testing.TB, name string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "crds", "klutch", name))
	require.NoError(t, err)
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, yaml.Unmarshal(raw, crd), name)
	require.Equal(t, "CustomResourceDefinition", crd.Kind, name)
	return crd
}

// klutchFiles lists the real CRDs under testdata/crds/klutch.
func klutchFiles(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("..", "..", "testdata", "crds", "klutch"))
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".yaml") {
			out = append(out, e.Name())
		}
	}
	require.NotEmpty(t, out)
	return out
}

// firstSchema returns the openAPIV3Schema of the CRD's first version.
func firstSchema(crd *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.JSONSchemaProps {
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema
}

// editSchema runs fn on the property at path (".spec.items[*].name") of
// the CRD's first version. "[*]" steps into items, or into
// additionalProperties when the property has no items.
func editSchema(t testing.TB, crd *apiextensionsv1.CustomResourceDefinition, path string, fn func(p *apiextensionsv1.JSONSchemaProps)) {
	t.Helper()
	editSchemaAt(t, firstSchema(crd), splitPath(path), fn)
}

func splitPath(path string) []string {
	path = strings.ReplaceAll(path, "[*]", ".[*]")
	var segs []string
	for _, s := range strings.Split(path, ".") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	return segs
}

func editSchemaAt(t testing.TB, p *apiextensionsv1.JSONSchemaProps, segs []string, fn func(p *apiextensionsv1.JSONSchemaProps)) {
	t.Helper()
	if len(segs) == 0 {
		fn(p)
		return
	}
	if segs[0] == "[*]" {
		switch {
		case p.Items != nil && p.Items.Schema != nil:
			editSchemaAt(t, p.Items.Schema, segs[1:], fn)
		case p.AdditionalProperties != nil && p.AdditionalProperties.Schema != nil:
			editSchemaAt(t, p.AdditionalProperties.Schema, segs[1:], fn)
		default:
			t.Fatalf("no items or additionalProperties schema to step into")
		}
		return
	}
	child, ok := p.Properties[segs[0]]
	require.True(t, ok, "no property %q", segs[0])
	editSchemaAt(t, &child, segs[1:], fn)
	p.Properties[segs[0]] = child
}

// rawJSON wraps a JSON literal as an apiextensions JSON value.
func rawJSON(s string) apiextensionsv1.JSON { return apiextensionsv1.JSON{Raw: []byte(s)} }

func rawJSONPtr(s string) *apiextensionsv1.JSON { j := rawJSON(s); return &j }

func i64(v int64) *int64 { return &v }

func f64(v float64) *float64 { return &v }

func strPtr(s string) *string { return &s }

func truePtr() *bool { b := true; return &b }

// findRule returns the first finding of rule at path, or nil.
func findRule(r Report, rule, path string) *Finding {
	for i := range r.Findings {
		if r.Findings[i].Rule == rule && r.Findings[i].Path == path {
			return &r.Findings[i]
		}
	}
	return nil
}
