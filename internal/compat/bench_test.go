package compat

import (
	"encoding/json"
	"fmt"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// go test -run '^$' -bench Compare -benchmem ./internal/compat/

// BenchmarkCompareLargestRealCRD compares two copies of the largest real CRD.
func BenchmarkCompareLargestRealCRD(b *testing.B) {
	oldCRD := loadKlutchCRD(b, "postgresqlinstances.anynines.com.yaml")
	newCRD := oldCRD.DeepCopy()
	b.ReportAllocs()
	for b.Loop() {
		if r := Compare(oldCRD, newCRD); len(r.Findings) != 0 {
			b.Fatalf("findings: %v", r.Findings)
		}
	}
}

// BenchmarkCompareSynthetic1MB compares two copies of a synthetic schema of
// about 1 MB of JSON, and the same with one change deep inside.
func BenchmarkCompareSynthetic1MB(b *testing.B) {
	oldCRD := newWidget(b)
	oldCRD.Spec.Versions[0].Schema.OpenAPIV3Schema = syntheticSchema(b, 1<<20)
	raw, err := json.Marshal(oldCRD)
	if err != nil {
		b.Fatal(err)
	}
	size := float64(len(raw))
	b.Run("identical", func(b *testing.B) {
		newCRD := oldCRD.DeepCopy()
		b.ReportAllocs()
		for b.Loop() {
			if r := Compare(oldCRD, newCRD); len(r.Findings) != 0 {
				b.Fatalf("findings: %v", r.Findings)
			}
		}
		b.ReportMetric(size, "crd-bytes")
	})
	b.Run("one-change", func(b *testing.B) {
		newCRD := oldCRD.DeepCopy()
		editSchema(b, newCRD, ".spec.group0007.field0003", func(p *apiextensionsv1.JSONSchemaProps) { p.MaxLength = i64(8) })
		b.ReportAllocs()
		for b.Loop() {
			if r := Compare(oldCRD, newCRD); !r.Breaking() {
				b.Fatal("the change was not found")
			}
		}
		b.ReportMetric(size, "crd-bytes")
	})
}

// syntheticSchema builds a schema whose JSON is at least size bytes:
// spec and status objects of groups of string, integer, enum and list
// fields, each with a description and a CEL rule per group.
func syntheticSchema(tb testing.TB, size int) *apiextensionsv1.JSONSchemaProps {
	tb.Helper()
	group := func(g int) apiextensionsv1.JSONSchemaProps {
		props := map[string]apiextensionsv1.JSONSchemaProps{}
		for f := 0; f < 20; f++ {
			desc := fmt.Sprintf("Field %d of group %d. It configures one knob of the service, as the platform operator documented it.", f, g)
			var p apiextensionsv1.JSONSchemaProps
			switch f % 4 {
			case 0:
				p = apiextensionsv1.JSONSchemaProps{Type: "integer", Minimum: f64(0), Maximum: f64(65535)}
			case 1:
				p = apiextensionsv1.JSONSchemaProps{Type: "string", Enum: []apiextensionsv1.JSON{
					rawJSON(`"small"`), rawJSON(`"medium"`), rawJSON(`"large"`), rawJSON(`"xlarge"`)}}
			case 2:
				p = apiextensionsv1.JSONSchemaProps{Type: "array", XListType: strPtr("set"),
					Items: &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &apiextensionsv1.JSONSchemaProps{Type: "string", MaxLength: i64(253)}}}
			default:
				p = apiextensionsv1.JSONSchemaProps{Type: "string", Pattern: "^[a-z0-9-]+$"}
			}
			p.Description = desc
			props[fmt.Sprintf("field%04d", f)] = p
		}
		return apiextensionsv1.JSONSchemaProps{Type: "object", Properties: props, Required: []string{"field0000"},
			XValidations: apiextensionsv1.ValidationRules{{Rule: "self.field0000 >= 0", Message: "field0000 is not negative"}}}
	}
	spec := apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{}}
	status := apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{}}
	root := &apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{}}
	for g := 0; ; g++ {
		name := fmt.Sprintf("group%04d", g)
		spec.Properties[name] = group(g)
		status.Properties[name] = group(g)
		root.Properties["spec"], root.Properties["status"] = spec, status
		if g%10 == 9 {
			raw, err := json.Marshal(root)
			if err != nil {
				tb.Fatal(err)
			}
			if len(raw) >= size {
				return root
			}
		}
	}
}
