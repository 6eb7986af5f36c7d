package compat_test

import (
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/bindsync/bindsync/internal/compat"
)

func ExampleCompare() {
	crd := func(plans ...string) *apiextensionsv1.CustomResourceDefinition {
		var enum []apiextensionsv1.JSON
		for _, p := range plans {
			enum = append(enum, apiextensionsv1.JSON{Raw: []byte(`"` + p + `"`)})
		}
		return &apiextensionsv1.CustomResourceDefinition{
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: "example.com", Scope: apiextensionsv1.NamespaceScoped,
				Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "databases", Kind: "Database"},
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
					Name: "v1", Served: true, Storage: true,
					Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
						Type: "object",
						Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
								"plan": {Type: "string", Enum: enum},
							}},
						},
					}},
				}},
			},
		}
	}

	report := compat.Compare(crd("small", "big"), crd("small", "medium"))
	for _, f := range report.Findings {
		fmt.Printf("%s %s %s %s: %s\n", f.Version, f.Path, f.Rule, f.Severity, f.Message)
	}
	fmt.Println("Bindsync-Compat:", report.Verdict())
	// Output:
	// v1 .spec.plan enum-value-added non-breaking: enum value "medium" added
	// v1 .spec.plan enum-value-removed breaking: enum value "big" removed: objects using it no longer validate (breaks writers)
	// Bindsync-Compat: breaking: enum-value-removed
}
