package compat

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

type crdRef = *apiextensionsv1.CustomResourceDefinition

type schemaRef = *apiextensionsv1.JSONSchemaProps

// ruleCase is one named rule case: edit the old and/or new copy of the
// widget CRD, then expect a finding of rule at path on side, and a verdict.
type ruleCase struct {
	name     string
	old      func(t *testing.T, c crdRef)
	new      func(t *testing.T, c crdRef)
	breaking bool
	rule     string
	path     string
	side     Side
	version  string
	// alsoBreaking lists other rules the change breaks, for changes that
	// two rules describe (a dropped stored version is also a removed version).
	alsoBreaking []string
	// says and neverSays are substrings the finding's message must and must
	// not contain.
	says, neverSays []string
}

// at returns an edit func that runs fn on the property at path.
func at(path string, fn func(p schemaRef)) func(t *testing.T, c crdRef) {
	return func(t *testing.T, c crdRef) {
		editSchema(t, c, path, func(p *apiextensionsv1.JSONSchemaProps) { fn(p) })
	}
}

// crd returns an edit func for whole-CRD edits.
func crd(fn func(c crdRef)) func(t *testing.T, c crdRef) {
	return func(_ *testing.T, c crdRef) { fn(c) }
}

func addVersion(c crdRef, name string) {
	v := *c.Spec.Versions[0].DeepCopy()
	v.Name, v.Storage = name, false
	c.Spec.Versions = append(c.Spec.Versions, v)
}

// moveStorageSuperset edits a copy of the widget's schema into a superset
// of it: one more enum value and a new description.
func moveStorageSuperset(root *apiextensionsv1.JSONSchemaProps) {
	spec := root.Properties["spec"]
	mode := spec.Properties["mode"]
	mode.Enum = append(mode.Enum, apiextensionsv1.JSON{Raw: []byte(`"eco"`)})
	mode.Description = "How the widget runs; eco is new in v2."
	spec.Properties["mode"] = mode
	root.Properties["spec"] = spec
}

// withParameters returns an edit that adds a new optional object field
// "parameters" to the object at path, with a CEL rule on that object.
func withParameters(path, rule string) func(t *testing.T, c crdRef) {
	return at(path, func(p schemaRef) {
		p.Properties["parameters"] = apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"size": {Type: "integer"}}}
		p.XValidations = append(p.XValidations, apiextensionsv1.ValidationRule{Rule: rule, Message: "parameters.size must be positive"})
	})
}

// declareKept returns an edit that declares property name under
// .spec.template, which keeps unknown fields.
func declareKept(name string, prop apiextensionsv1.JSONSchemaProps) func(t *testing.T, c crdRef) {
	return at(".spec.template", func(p schemaRef) {
		p.Properties = map[string]apiextensionsv1.JSONSchemaProps{name: prop}
	})
}

func ruleCases() []ruleCase {
	return []ruleCase{
		// Properties.
		{name: "field removed is breaking", new: at(".spec", func(p schemaRef) { delete(p.Properties, "size") }),
			breaking: true, rule: RuleFieldRemoved, path: ".spec.size", side: SideSpec},
		{name: "field removed under preserve-unknown-fields is breaking", new: at(".spec.template", func(p schemaRef) {
			delete(p.Properties, "replicas")
		}), old: at(".spec.template", func(p schemaRef) {
			p.Properties = map[string]apiextensionsv1.JSONSchemaProps{"replicas": {Type: "integer"}}
		}), breaking: true, rule: RuleFieldRemoved, path: ".spec.template.replicas", side: SideSpec},
		{name: "metadata left out of the root schema is not breaking",
			old:  at(".", func(p schemaRef) { p.Properties["metadata"] = apiextensionsv1.JSONSchemaProps{Type: "object"} }),
			rule: RuleImplicitFieldRemoved, path: ".metadata", side: SideMetadata},
		{name: "a top-level field other than apiVersion, kind and metadata removed is breaking",
			old:      at(".", func(p schemaRef) { p.Properties["data"] = apiextensionsv1.JSONSchemaProps{Type: "string"} }),
			breaking: true, rule: RuleFieldRemoved, path: ".data", side: SideSpec},
		{name: "new optional field is not breaking", new: at(".spec", func(p schemaRef) {
			p.Properties["color"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
		}), rule: RuleFieldAdded, path: ".spec.color", side: SideSpec},
		{name: "status field removed is breaking for readers", new: at(".status", func(p schemaRef) { delete(p.Properties, "phase") }),
			breaking: true, rule: RuleFieldRemoved, path: ".status.phase", side: SideStatus},
		{name: "new status field is not breaking", new: at(".status", func(p schemaRef) {
			p.Properties["message"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
		}), rule: RuleFieldAdded, path: ".status.message", side: SideStatus},
		{name: "field removed from array items is breaking", new: at(".spec.items[*]", func(p schemaRef) { delete(p.Properties, "port") }),
			breaking: true, rule: RuleFieldRemoved, path: ".spec.items[*].port", side: SideSpec},
		{name: "new field with constraints is not breaking", new: at(".spec", func(p schemaRef) {
			p.Properties["color"] = apiextensionsv1.JSONSchemaProps{Type: "string", MaxLength: i64(3), Pattern: "^[a-z]+$",
				Enum: []apiextensionsv1.JSON{rawJSON(`"red"`)}, Default: rawJSONPtr(`"red"`)}
		}), rule: RuleFieldAdded, path: ".spec.color", side: SideSpec},

		// Fields declared under an object that keeps unknown fields: stored
		// objects may already hold them, with any value.
		{name: "field declared under preserve-unknown-fields with a type is breaking", new: declareKept("replicas",
			apiextensionsv1.JSONSchemaProps{Type: "integer"}),
			breaking: true, rule: RuleTypeChanged, path: ".spec.template.replicas", side: SideSpec,
			says: []string{"newly declared under .spec.template, which keeps unknown fields"}},
		{name: "field declared under preserve-unknown-fields with an enum is breaking", new: declareKept("mode",
			apiextensionsv1.JSONSchemaProps{Type: "string", Enum: []apiextensionsv1.JSON{rawJSON(`"a"`)}}),
			breaking: true, rule: RuleEnumAdded, path: ".spec.template.mode", side: SideSpec, alsoBreaking: []string{RuleTypeChanged}},
		{name: "field declared under preserve-unknown-fields with a pattern is breaking", new: declareKept("name",
			apiextensionsv1.JSONSchemaProps{Type: "string", Pattern: "^[a-z]+$"}),
			breaking: true, rule: RulePatternAdded, path: ".spec.template.name", side: SideSpec, alsoBreaking: []string{RuleTypeChanged}},
		{name: "field declared under preserve-unknown-fields with a maximum is breaking", new: declareKept("replicas",
			apiextensionsv1.JSONSchemaProps{Type: "integer", Maximum: f64(10)}),
			breaking: true, rule: RuleMaximumTightened, path: ".spec.template.replicas", side: SideSpec, alsoBreaking: []string{RuleTypeChanged}},
		{name: "field declared under preserve-unknown-fields with a CEL rule is breaking", new: declareKept("replicas",
			apiextensionsv1.JSONSchemaProps{XIntOrString: true, XValidations: apiextensionsv1.ValidationRules{{Rule: "self != 0"}}}),
			breaking: true, rule: RuleValidationRuleAdded, path: ".spec.template.replicas", side: SideSpec, alsoBreaking: []string{RuleIntOrStringChanged}},
		{name: "object declared under preserve-unknown-fields with a required field is breaking", new: declareKept("owner",
			apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: truePtr(), Required: []string{"name"},
				Properties: map[string]apiextensionsv1.JSONSchemaProps{"name": {XPreserveUnknownFields: truePtr()}}}),
			breaking: true, rule: RuleRequiredAdded, path: ".spec.template.owner.name", side: SideSpec, alsoBreaking: []string{RuleTypeChanged}},
		{name: "object declared under preserve-unknown-fields without keeping unknown fields is breaking", new: declareKept("settings",
			apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"level": {XPreserveUnknownFields: truePtr()}}}),
			breaking: true, rule: RulePreserveUnknownFieldsChanged, path: ".spec.template.settings", side: SideSpec,
			alsoBreaking: []string{RuleTypeChanged}, says: []string{"pruned"}},
		{name: "map declared under preserve-unknown-fields with a typed value is breaking", new: declareKept("labels",
			apiextensionsv1.JSONSchemaProps{Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{
				Allows: true, Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}}),
			breaking: true, rule: RuleTypeChanged, path: ".spec.template.labels[*]", side: SideSpec},
		{name: "bare field declared under preserve-unknown-fields is not breaking", new: declareKept("anything",
			apiextensionsv1.JSONSchemaProps{}),
			rule: RuleFieldAdded, path: ".spec.template.anything", side: SideSpec},
		{name: "field declared under preserve-unknown-fields that keeps unknown fields is not breaking", new: declareKept("extra",
			apiextensionsv1.JSONSchemaProps{XPreserveUnknownFields: truePtr(), Description: "Anything.", Default: rawJSONPtr(`{}`)}),
			rule: RuleFieldAdded, path: ".spec.template.extra", side: SideSpec},

		// Types.
		{name: "type changed is breaking", new: at(".spec.name", func(p schemaRef) { p.Type = "integer" }),
			breaking: true, rule: RuleTypeChanged, path: ".spec.name", side: SideSpec},
		{name: "integer widened to number is not breaking", new: at(".spec.size", func(p schemaRef) { p.Type = "number" }),
			rule: RuleTypeWidened, path: ".spec.size", side: SideSpec},
		{name: "number narrowed to integer is breaking", new: at(".spec.ratio", func(p schemaRef) { p.Type = "integer" }),
			breaking: true, rule: RuleTypeChanged, path: ".spec.ratio", side: SideSpec},

		// Enums.
		{name: "enum value removed is breaking", new: at(".spec.mode", func(p schemaRef) { p.Enum = p.Enum[:1] }),
			breaking: true, rule: RuleEnumValueRemoved, path: ".spec.mode", side: SideSpec},
		{name: "enum value added is not breaking", new: at(".spec.mode", func(p schemaRef) { p.Enum = append(p.Enum, rawJSON(`"eco"`)) }),
			rule: RuleEnumValueAdded, path: ".spec.mode", side: SideSpec},
		{name: "enum added to a free field is breaking", new: at(".spec.name", func(p schemaRef) { p.Enum = []apiextensionsv1.JSON{rawJSON(`"a"`)} }),
			breaking: true, rule: RuleEnumAdded, path: ".spec.name", side: SideSpec},
		{name: "enum dropped is not breaking", new: at(".spec.mode", func(p schemaRef) { p.Enum = nil }),
			rule: RuleEnumRemoved, path: ".spec.mode", side: SideSpec},
		{name: "status enum value removed is breaking for readers",
			old:      at(".status.phase", func(p schemaRef) { p.Enum = []apiextensionsv1.JSON{rawJSON(`"Ready"`), rawJSON(`"Failed"`)} }),
			new:      at(".status.phase", func(p schemaRef) { p.Enum = []apiextensionsv1.JSON{rawJSON(`"Ready"`)} }),
			breaking: true, rule: RuleEnumValueRemoved, path: ".status.phase", side: SideStatus},

		// Required.
		{name: "optional field made required is breaking", new: at(".spec", func(p schemaRef) { p.Required = append(p.Required, "name") }),
			breaking: true, rule: RuleRequiredAdded, path: ".spec.name", side: SideSpec},
		{name: "new required field is breaking", new: at(".spec", func(p schemaRef) {
			p.Properties["color"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
			p.Required = append(p.Required, "color")
		}), breaking: true, rule: RuleRequiredAdded, path: ".spec.color", side: SideSpec},
		{name: "required removed is not breaking", new: at(".spec", func(p schemaRef) { p.Required = nil }),
			rule: RuleRequiredRemoved, path: ".spec.mode", side: SideSpec},
		{name: "top-level status made required is breaking for readers", new: at(".", func(p schemaRef) { p.Required = []string{"status"} }),
			breaking: true, rule: RuleRequiredAdded, path: ".status", side: SideStatus},

		// String limits.
		{name: "maxLength added is breaking", new: at(".spec.name", func(p schemaRef) { p.MaxLength = i64(63) }),
			breaking: true, rule: RuleMaxLengthTightened, path: ".spec.name", side: SideSpec},
		{name: "maxLength lowered is breaking",
			old:      at(".spec.name", func(p schemaRef) { p.MaxLength = i64(63) }),
			new:      at(".spec.name", func(p schemaRef) { p.MaxLength = i64(32) }),
			breaking: true, rule: RuleMaxLengthTightened, path: ".spec.name", side: SideSpec},
		{name: "maxLength raised is not breaking",
			old:  at(".spec.name", func(p schemaRef) { p.MaxLength = i64(32) }),
			new:  at(".spec.name", func(p schemaRef) { p.MaxLength = i64(63) }),
			rule: RuleMaxLengthLoosened, path: ".spec.name", side: SideSpec},
		{name: "minLength raised is breaking",
			old:      at(".spec.name", func(p schemaRef) { p.MinLength = i64(1) }),
			new:      at(".spec.name", func(p schemaRef) { p.MinLength = i64(3) }),
			breaking: true, rule: RuleMinLengthTightened, path: ".spec.name", side: SideSpec},
		{name: "minLength removed is not breaking",
			old:  at(".spec.name", func(p schemaRef) { p.MinLength = i64(1) }),
			rule: RuleMinLengthLoosened, path: ".spec.name", side: SideSpec},

		// Numeric limits.
		{name: "minimum added is breaking", new: at(".spec.size", func(p schemaRef) { p.Minimum = f64(1) }),
			breaking: true, rule: RuleMinimumTightened, path: ".spec.size", side: SideSpec},
		{name: "minimum lowered is not breaking",
			old:  at(".spec.size", func(p schemaRef) { p.Minimum = f64(1) }),
			new:  at(".spec.size", func(p schemaRef) { p.Minimum = f64(0) }),
			rule: RuleMinimumLoosened, path: ".spec.size", side: SideSpec},
		{name: "exclusiveMinimum turned on is breaking",
			old:      at(".spec.size", func(p schemaRef) { p.Minimum = f64(0) }),
			new:      at(".spec.size", func(p schemaRef) { p.Minimum, p.ExclusiveMinimum = f64(0), true }),
			breaking: true, rule: RuleMinimumTightened, path: ".spec.size", side: SideSpec},
		{name: "maximum lowered is breaking",
			old:      at(".spec.size", func(p schemaRef) { p.Maximum = f64(100) }),
			new:      at(".spec.size", func(p schemaRef) { p.Maximum = f64(10) }),
			breaking: true, rule: RuleMaximumTightened, path: ".spec.size", side: SideSpec},
		{name: "maximum removed is not breaking",
			old:  at(".spec.size", func(p schemaRef) { p.Maximum = f64(100) }),
			rule: RuleMaximumLoosened, path: ".spec.size", side: SideSpec},
		{name: "multipleOf added is breaking", new: at(".spec.size", func(p schemaRef) { p.MultipleOf = f64(2) }),
			breaking: true, rule: RuleMultipleOfTightened, path: ".spec.size", side: SideSpec},
		{name: "multipleOf changed to a divisor is not breaking",
			old:  at(".spec.size", func(p schemaRef) { p.MultipleOf = f64(4) }),
			new:  at(".spec.size", func(p schemaRef) { p.MultipleOf = f64(2) }),
			rule: RuleMultipleOfLoosened, path: ".spec.size", side: SideSpec},

		// Array and object limits.
		{name: "minItems added is breaking", new: at(".spec.tags", func(p schemaRef) { p.MinItems = i64(1) }),
			breaking: true, rule: RuleMinItemsTightened, path: ".spec.tags", side: SideSpec},
		{name: "minItems lowered is not breaking",
			old:  at(".spec.tags", func(p schemaRef) { p.MinItems = i64(2) }),
			new:  at(".spec.tags", func(p schemaRef) { p.MinItems = i64(1) }),
			rule: RuleMinItemsLoosened, path: ".spec.tags", side: SideSpec},
		{name: "maxItems added is breaking", new: at(".spec.tags", func(p schemaRef) { p.MaxItems = i64(8) }),
			breaking: true, rule: RuleMaxItemsTightened, path: ".spec.tags", side: SideSpec},
		{name: "maxItems raised is not breaking",
			old:  at(".spec.tags", func(p schemaRef) { p.MaxItems = i64(8) }),
			new:  at(".spec.tags", func(p schemaRef) { p.MaxItems = i64(16) }),
			rule: RuleMaxItemsLoosened, path: ".spec.tags", side: SideSpec},
		{name: "minProperties raised is breaking", new: at(".spec.labels", func(p schemaRef) { p.MinProperties = i64(1) }),
			breaking: true, rule: RuleMinPropertiesTightened, path: ".spec.labels", side: SideSpec},
		{name: "minProperties removed is not breaking", old: at(".spec.labels", func(p schemaRef) { p.MinProperties = i64(1) }),
			rule: RuleMinPropertiesLoosened, path: ".spec.labels", side: SideSpec},
		{name: "maxProperties lowered is breaking",
			old:      at(".spec.labels", func(p schemaRef) { p.MaxProperties = i64(10) }),
			new:      at(".spec.labels", func(p schemaRef) { p.MaxProperties = i64(5) }),
			breaking: true, rule: RuleMaxPropertiesTightened, path: ".spec.labels", side: SideSpec},
		{name: "maxProperties removed is not breaking", old: at(".spec.labels", func(p schemaRef) { p.MaxProperties = i64(10) }),
			rule: RuleMaxPropertiesLoosened, path: ".spec.labels", side: SideSpec},
		{name: "uniqueItems turned on is breaking", new: at(".spec.tags", func(p schemaRef) { p.UniqueItems = true }),
			breaking: true, rule: RuleUniqueItemsAdded, path: ".spec.tags", side: SideSpec},
		{name: "uniqueItems turned off is not breaking", old: at(".spec.tags", func(p schemaRef) { p.UniqueItems = true }),
			rule: RuleUniqueItemsRemoved, path: ".spec.tags", side: SideSpec},
		{name: "map value maxLength added is breaking", new: at(".spec.labels[*]", func(p schemaRef) { p.MaxLength = i64(63) }),
			breaking: true, rule: RuleMaxLengthTightened, path: ".spec.labels[*]", side: SideSpec},
		{name: "array item maxLength raised is not breaking",
			old:  at(".spec.tags[*]", func(p schemaRef) { p.MaxLength = i64(10) }),
			new:  at(".spec.tags[*]", func(p schemaRef) { p.MaxLength = i64(20) }),
			rule: RuleMaxLengthLoosened, path: ".spec.tags[*]", side: SideSpec},

		// Pattern and format.
		{name: "pattern added is breaking", new: at(".spec.name", func(p schemaRef) { p.Pattern = "^[a-z]+$" }),
			breaking: true, rule: RulePatternAdded, path: ".spec.name", side: SideSpec},
		{name: "pattern changed is breaking",
			old:      at(".spec.name", func(p schemaRef) { p.Pattern = "^[a-z]+$" }),
			new:      at(".spec.name", func(p schemaRef) { p.Pattern = "^[a-z0-9]+$" }),
			breaking: true, rule: RulePatternChanged, path: ".spec.name", side: SideSpec,
			says: []string{"cannot tell"}, neverSays: []string{"values that were valid may be rejected"}},
		{name: "pattern removed is not breaking", old: at(".spec.name", func(p schemaRef) { p.Pattern = "^[a-z]+$" }),
			rule: RulePatternRemoved, path: ".spec.name", side: SideSpec},
		{name: "format added is breaking", new: at(".spec.name", func(p schemaRef) { p.Format = "hostname" }),
			breaking: true, rule: RuleFormatAdded, path: ".spec.name", side: SideSpec},
		{name: "format changed is breaking",
			old:      at(".spec.name", func(p schemaRef) { p.Format = "hostname" }),
			new:      at(".spec.name", func(p schemaRef) { p.Format = "uri" }),
			breaking: true, rule: RuleFormatChanged, path: ".spec.name", side: SideSpec},
		{name: "format removed is not breaking", old: at(".spec.name", func(p schemaRef) { p.Format = "hostname" }),
			rule: RuleFormatRemoved, path: ".spec.name", side: SideSpec},

		// Nullable and default.
		{name: "nullable removed is breaking", old: at(".spec.name", func(p schemaRef) { p.Nullable = true }),
			breaking: true, rule: RuleNullableRemoved, path: ".spec.name", side: SideSpec},
		{name: "nullable added is not breaking", new: at(".spec.name", func(p schemaRef) { p.Nullable = true }),
			rule: RuleNullableAdded, path: ".spec.name", side: SideSpec},
		{name: "default added is breaking", new: at(".spec.size", func(p schemaRef) { p.Default = rawJSONPtr(`3`) }),
			breaking: true, rule: RuleDefaultAdded, path: ".spec.size", side: SideSpec},
		{name: "default changed is breaking",
			old:      at(".spec.size", func(p schemaRef) { p.Default = rawJSONPtr(`3`) }),
			new:      at(".spec.size", func(p schemaRef) { p.Default = rawJSONPtr(`4`) }),
			breaking: true, rule: RuleDefaultChanged, path: ".spec.size", side: SideSpec},
		{name: "default removed is breaking", old: at(".spec.size", func(p schemaRef) { p.Default = rawJSONPtr(`3`) }),
			breaking: true, rule: RuleDefaultRemoved, path: ".spec.size", side: SideSpec},

		// Kubernetes extensions.
		{name: "preserve-unknown-fields turned off is breaking",
			new:      at(".spec.template", func(p schemaRef) { p.XPreserveUnknownFields = nil }),
			breaking: true, rule: RulePreserveUnknownFieldsChanged, path: ".spec.template", side: SideSpec},
		{name: "int-or-string added is breaking", new: at(".spec.name", func(p schemaRef) { p.Type, p.XIntOrString = "", true }),
			breaking: true, rule: RuleIntOrStringChanged, path: ".spec.name", side: SideSpec, alsoBreaking: []string{RuleTypeChanged}},
		{name: "embedded-resource turned on is breaking", new: at(".spec.config", func(p schemaRef) { p.XEmbeddedResource = true }),
			breaking: true, rule: RuleEmbeddedResourceChanged, path: ".spec.config", side: SideSpec},
		{name: "list type changed is breaking", new: at(".spec.tags", func(p schemaRef) { p.XListType = strPtr("set") }),
			breaking: true, rule: RuleListTypeChanged, path: ".spec.tags", side: SideSpec},
		{name: "list-map keys changed is breaking", new: at(".spec.items", func(p schemaRef) { p.XListMapKeys = []string{"name", "port"} }),
			breaking: true, rule: RuleListMapKeysChanged, path: ".spec.items", side: SideSpec},
		{name: "map type changed is breaking", new: at(".spec.config", func(p schemaRef) { p.XMapType = strPtr("atomic") }),
			breaking: true, rule: RuleMapTypeChanged, path: ".spec.config", side: SideSpec},

		// additionalProperties.
		{name: "additionalProperties removed is breaking", new: at(".spec.labels", func(p schemaRef) { p.AdditionalProperties = nil }),
			breaking: true, rule: RuleAdditionalPropertiesNarrowed, path: ".spec.labels", side: SideSpec},
		{name: "additionalProperties schema widened to true is not breaking",
			new:  at(".spec.labels", func(p schemaRef) { p.AdditionalProperties = &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true} }),
			rule: RuleAdditionalPropertiesWidened, path: ".spec.labels", side: SideSpec},

		{name: "object turned into a map of a compatible schema is not breaking", new: at(".spec", func(p schemaRef) {
			p.Properties["config"] = apiextensionsv1.JSONSchemaProps{Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{
				Allows: true, Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}}
		}), rule: RuleAdditionalPropertiesWidened, path: ".spec.config", side: SideSpec},
		{name: "object turned into a map of a stricter schema is breaking", new: at(".spec", func(p schemaRef) {
			p.Properties["config"] = apiextensionsv1.JSONSchemaProps{Type: "object", AdditionalProperties: &apiextensionsv1.JSONSchemaPropsOrBool{
				Allows: true, Schema: &apiextensionsv1.JSONSchemaProps{Type: "string", MaxLength: i64(8)}}}
		}), breaking: true, rule: RuleMaxLengthTightened, path: ".spec.config.level", side: SideSpec},

		// CEL rules.
		{name: "CEL rule added is breaking", new: at(".spec", func(p schemaRef) {
			p.XValidations = append(p.XValidations, apiextensionsv1.ValidationRule{Rule: "self.name != 'x'", Message: "no x"})
		}), breaking: true, rule: RuleValidationRuleAdded, path: ".spec", side: SideSpec},
		{name: "CEL rule removed is not breaking", new: at(".spec", func(p schemaRef) { p.XValidations = nil }),
			rule: RuleValidationRuleRemoved, path: ".spec", side: SideSpec},
		{name: "CEL rule changed is breaking", new: at(".spec", func(p schemaRef) { p.XValidations[0].Rule = "self.size > 0" }),
			breaking: true, rule: RuleValidationRuleChanged, path: ".spec", side: SideSpec},
		{name: "CEL rule loosened is breaking and says the engine cannot tell looser from tighter",
			new:      at(".spec", func(p schemaRef) { p.XValidations[0].Rule = "self.size >= -1" }),
			breaking: true, rule: RuleValidationRuleChanged, path: ".spec", side: SideSpec,
			says: []string{"cannot tell whether the new rule is looser or tighter"}, neverSays: []string{"objects that were valid may be rejected"}},

		// CEL rules arriving with a new optional field.
		{name: "has()-guarded rule with new optional field is not breaking", new: withParameters(".spec",
			"!has(self.parameters) || self.parameters.size > 0"),
			rule: RuleValidationRuleAddedGuarded, path: ".spec", side: SideSpec},
		{name: "has()-guarded rule in conditional form with new optional field is not breaking", new: withParameters(".spec",
			"has(self.parameters) ? self.parameters.size > 0 : true"),
			rule: RuleValidationRuleAddedGuarded, path: ".spec", side: SideSpec},
		{name: "has()-guarded rule in parentheses with new optional field is not breaking", new: withParameters(".spec",
			" ( !has(self.parameters) || (self.parameters.size > 0 && self.parameters.size < 10) ) "),
			rule: RuleValidationRuleAddedGuarded, path: ".spec", side: SideSpec},
		{name: "unguarded rule with new optional field stays breaking", new: withParameters(".spec",
			"self.parameters.size > 0"),
			breaking: true, rule: RuleValidationRuleAdded, path: ".spec", side: SideSpec},
		{name: "rule guarded by has() of the new field in a later clause is not breaking", new: withParameters(".spec",
			"self.size > 0 || !has(self.parameters)"),
			rule: RuleValidationRuleAddedGuarded, path: ".spec", side: SideSpec},
		{name: "rule in Klutch's form, not (has the new field and has its child) or a check, is not breaking", new: withParameters(".spec",
			"!(has(self.parameters) && has(self.parameters.size)) || self.name.contains('-replica-')"),
			rule: RuleValidationRuleAddedGuarded, path: ".spec", side: SideSpec,
			says: []string{"has(self.parameters)", ".spec.parameters", "no stored object has it"}},
		{name: "rule with a macro behind the guard is not breaking", new: withParameters(".spec",
			"has(self.parameters) ? self.parameters.all(k, k != '') : true"),
			rule: RuleValidationRuleAddedGuarded, path: ".spec", side: SideSpec},
		{name: "rule with has() of the new field only inside a macro stays breaking", new: withParameters(".spec",
			"self.tags.all(t, !has(self.parameters))"),
			breaking: true, rule: RuleValidationRuleAdded, path: ".spec", side: SideSpec},
		{name: "rule spelled with has() compared to false stays breaking", new: withParameters(".spec",
			"has(self.parameters) == false || self.parameters.size > 0"),
			breaking: true, rule: RuleValidationRuleAdded, path: ".spec", side: SideSpec},
		{name: "has()-guarded disjunction inside a conditional stays breaking", new: withParameters(".spec",
			"!has(self.parameters) || self.size > 0 ? self.size < 10 : true"),
			breaking: true, rule: RuleValidationRuleAdded, path: ".spec", side: SideSpec},
		{name: "has()-guarded conjunction stays breaking", new: withParameters(".spec",
			"!has(self.parameters) && self.size > 0 || self.size > 1"),
			breaking: true, rule: RuleValidationRuleAdded, path: ".spec", side: SideSpec},
		{name: "rule guarded by has() of a field that already existed stays breaking", new: at(".spec", func(p schemaRef) {
			p.XValidations = append(p.XValidations, apiextensionsv1.ValidationRule{Rule: "!has(self.name) || self.name != 'x'"})
		}), breaking: true, rule: RuleValidationRuleAdded, path: ".spec", side: SideSpec},
		{name: "rule guarded by has() of a nested path of the new field stays breaking", new: withParameters(".spec",
			"!has(self.parameters.size) || self.parameters.size > 0"),
			breaking: true, rule: RuleValidationRuleAdded, path: ".spec", side: SideSpec},
		{name: "has()-guarded rule for a field another version already declared stays breaking",
			old: crd(func(c crdRef) {
				addVersion(c, "v2")
				c.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["spec"].Properties["parameters"] = apiextensionsv1.JSONSchemaProps{Type: "object"}
			}),
			new: func(t *testing.T, c crdRef) {
				addVersion(c, "v2")
				c.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["spec"].Properties["parameters"] = apiextensionsv1.JSONSchemaProps{Type: "object"}
				withParameters(".spec", "!has(self.parameters) || self.parameters.size > 0")(t, c)
			},
			breaking: true, rule: RuleValidationRuleAdded, path: ".spec", side: SideSpec},
		{name: "has()-guarded rule under preserve-unknown-fields stays breaking", new: at(".spec.template", func(p schemaRef) {
			p.Properties = map[string]apiextensionsv1.JSONSchemaProps{"parameters": {XPreserveUnknownFields: truePtr()}}
			p.XValidations = apiextensionsv1.ValidationRules{{Rule: "!has(self.parameters) || self.parameters.size > 0"}}
		}), breaking: true, rule: RuleValidationRuleAdded, path: ".spec.template", side: SideSpec},
		{name: "CEL rule message changed is not breaking", new: at(".spec", func(p schemaRef) { p.XValidations[0].Message = "size is negative" }),
			rule: RuleValidationRuleMessageChanged, path: ".spec", side: SideSpec},
		{name: "CEL rule optionalOldSelf changed is breaking", new: at(".spec", func(p schemaRef) { p.XValidations[0].OptionalOldSelf = truePtr() }),
			breaking: true, rule: RuleValidationRuleChanged, path: ".spec", side: SideSpec},

		{name: "CEL rule reason changed is breaking", new: at(".spec", func(p schemaRef) {
			r := apiextensionsv1.FieldValueForbidden
			p.XValidations[0].Reason = &r
		}), breaking: true, rule: RuleValidationRuleChanged, path: ".spec", side: SideSpec},
		{name: "CEL rule fieldPath changed is not breaking", new: at(".spec", func(p schemaRef) { p.XValidations[0].FieldPath = ".size" }),
			rule: RuleValidationRuleMessageChanged, path: ".spec", side: SideSpec},

		// Composition.
		{name: "oneOf added is breaking", new: at(".spec", func(p schemaRef) {
			p.OneOf = []apiextensionsv1.JSONSchemaProps{{Required: []string{"name"}}, {Required: []string{"size"}}}
		}), breaking: true, rule: RuleOneOfChanged, path: ".spec", side: SideSpec},
		{name: "oneOf removed is not breaking", old: at(".spec", func(p schemaRef) {
			p.OneOf = []apiextensionsv1.JSONSchemaProps{{Required: []string{"name"}}, {Required: []string{"size"}}}
		}), rule: RuleOneOfLoosened, path: ".spec", side: SideSpec},
		{name: "anyOf branch removed is breaking",
			old: at(".spec", func(p schemaRef) {
				p.AnyOf = []apiextensionsv1.JSONSchemaProps{{Required: []string{"name"}}, {Required: []string{"size"}}}
			}),
			new:      at(".spec", func(p schemaRef) { p.AnyOf = []apiextensionsv1.JSONSchemaProps{{Required: []string{"name"}}} }),
			breaking: true, rule: RuleAnyOfChanged, path: ".spec", side: SideSpec},
		{name: "anyOf branch added is not breaking",
			old: at(".spec", func(p schemaRef) { p.AnyOf = []apiextensionsv1.JSONSchemaProps{{Required: []string{"name"}}} }),
			new: at(".spec", func(p schemaRef) {
				p.AnyOf = []apiextensionsv1.JSONSchemaProps{{Required: []string{"size"}}, {Required: []string{"name"}}}
			}),
			rule: RuleAnyOfLoosened, path: ".spec", side: SideSpec},
		{name: "allOf added is breaking", new: at(".spec", func(p schemaRef) {
			p.AllOf = []apiextensionsv1.JSONSchemaProps{{Required: []string{"name"}}}
		}), breaking: true, rule: RuleAllOfChanged, path: ".spec", side: SideSpec},
		{name: "allOf removed is not breaking", old: at(".spec", func(p schemaRef) {
			p.AllOf = []apiextensionsv1.JSONSchemaProps{{Required: []string{"name"}}}
		}), rule: RuleAllOfLoosened, path: ".spec", side: SideSpec},
		{name: "not added is breaking", new: at(".spec", func(p schemaRef) {
			p.Not = &apiextensionsv1.JSONSchemaProps{Required: []string{"name"}}
		}), breaking: true, rule: RuleNotChanged, path: ".spec", side: SideSpec},
		{name: "not removed is not breaking", old: at(".spec", func(p schemaRef) {
			p.Not = &apiextensionsv1.JSONSchemaProps{Required: []string{"name"}}
		}), rule: RuleNotLoosened, path: ".spec", side: SideSpec},

		// Documentation and the unknown.
		{name: "description changed is not breaking", new: at(".spec.name", func(p schemaRef) { p.Description = "The name." }),
			rule: RuleDescriptionChanged, path: ".spec.name", side: SideSpec},
		{name: "a change no rule understands is breaking", new: at(".spec", func(p schemaRef) {
			p.PatternProperties = map[string]apiextensionsv1.JSONSchemaProps{"^x-": {Type: "string"}}
		}), breaking: true, rule: RuleUnknownChange, path: ".spec", side: SideSpec},
		{name: "metadata schema tightened is breaking", new: at(".", func(p schemaRef) {
			p.Properties["metadata"] = apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
				"name": {Type: "string", MaxLength: i64(20)}}}
		}), old: at(".", func(p schemaRef) {
			p.Properties["metadata"] = apiextensionsv1.JSONSchemaProps{Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
				"name": {Type: "string"}}}
		}), breaking: true, rule: RuleMaxLengthTightened, path: ".metadata.name", side: SideMetadata},

		// Whole CRD.
		{name: "scope changed is breaking", new: crd(func(c crdRef) { c.Spec.Scope = apiextensionsv1.ClusterScoped }),
			breaking: true, rule: RuleScopeChanged, side: SideCRD},
		{name: "group changed is breaking", new: crd(func(c crdRef) { c.Spec.Group = "example.org" }),
			breaking: true, rule: RuleGroupChanged, side: SideCRD},
		{name: "kind changed is breaking", new: crd(func(c crdRef) { c.Spec.Names.Kind, c.Spec.Names.ListKind = "Gadget", "WidgetList" }),
			breaking: true, rule: RuleKindChanged, side: SideCRD},
		{name: "plural changed is breaking", new: crd(func(c crdRef) { c.Spec.Names.Plural = "widgetz" }),
			breaking: true, rule: RulePluralChanged, side: SideCRD},
		{name: "singular changed is breaking", new: crd(func(c crdRef) { c.Spec.Names.Singular = "wdgt" }),
			breaking: true, rule: RuleSingularChanged, side: SideCRD},
		{name: "listKind changed is breaking", new: crd(func(c crdRef) { c.Spec.Names.ListKind = "Widgets" }),
			breaking: true, rule: RuleListKindChanged, side: SideCRD},
		{name: "short name removed is breaking", new: crd(func(c crdRef) { c.Spec.Names.ShortNames = nil }),
			breaking: true, rule: RuleShortNameRemoved, side: SideCRD},
		{name: "short name added is not breaking", new: crd(func(c crdRef) { c.Spec.Names.ShortNames = append(c.Spec.Names.ShortNames, "wdg") }),
			rule: RuleShortNameAdded, side: SideCRD},
		{name: "category removed is not breaking", new: crd(func(c crdRef) { c.Spec.Names.Categories = nil }),
			rule: RuleCategoryRemoved, side: SideCRD},
		{name: "category added is not breaking", new: crd(func(c crdRef) { c.Spec.Names.Categories = append(c.Spec.Names.Categories, "widgets") }),
			rule: RuleCategoryAdded, side: SideCRD},
		{name: "version removed is breaking", old: crd(func(c crdRef) { addVersion(c, "v1beta1") }),
			breaking: true, rule: RuleVersionRemoved, side: SideCRD, version: "v1beta1"},
		{name: "version added is not breaking", new: crd(func(c crdRef) { addVersion(c, "v2") }),
			rule: RuleVersionAdded, side: SideCRD, version: "v2"},
		{name: "version no longer served is breaking",
			old:      crd(func(c crdRef) { addVersion(c, "v1beta1") }),
			new:      crd(func(c crdRef) { addVersion(c, "v1beta1"); c.Spec.Versions[1].Served = false }),
			breaking: true, rule: RuleVersionUnserved, side: SideCRD, version: "v1beta1"},
		{name: "version served again is not breaking",
			old:  crd(func(c crdRef) { addVersion(c, "v1beta1"); c.Spec.Versions[1].Served = false }),
			new:  crd(func(c crdRef) { addVersion(c, "v1beta1") }),
			rule: RuleVersionServed, side: SideCRD, version: "v1beta1"},
		{name: "version deprecated is not breaking", new: crd(func(c crdRef) { c.Spec.Versions[0].Deprecated = true }),
			rule: RuleVersionDeprecationChanged, side: SideCRD, version: "v1"},
		{name: "storage version moved is breaking",
			old: crd(func(c crdRef) { addVersion(c, "v2") }),
			new: crd(func(c crdRef) {
				addVersion(c, "v2")
				c.Spec.Versions[0].Storage, c.Spec.Versions[1].Storage = false, true
			}),
			breaking: true, rule: RuleStorageVersionChanged, side: SideCRD},
		{name: "storage moved to a new version with the same schema is not breaking", new: crd(func(c crdRef) {
			addVersion(c, "v2")
			c.Spec.Versions[0].Storage, c.Spec.Versions[1].Storage = false, true
		}), rule: RuleStorageVersionMovedSameSchema, side: SideCRD, says: []string{"storedVersions", "storage migration"}},
		{name: "storage moved to a new version with a field removed is breaking", new: crd(func(c crdRef) {
			addVersion(c, "v2")
			c.Spec.Versions[0].Storage, c.Spec.Versions[1].Storage = false, true
			delete(c.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["spec"].Properties, "size")
		}), breaking: true, rule: RuleStorageVersionChanged, side: SideCRD},
		{name: "storage moved to a new version whose schema adds an enum value and a description is not breaking",
			new: crd(func(c crdRef) {
				addVersion(c, "v2")
				c.Spec.Versions[0].Storage, c.Spec.Versions[1].Storage = false, true
				moveStorageSuperset(c.Spec.Versions[1].Schema.OpenAPIV3Schema)
			}), rule: RuleStorageVersionMovedSuperset, side: SideCRD,
			says: []string{"enum-value-added", "description-changed", "storedVersions", "storage migration"}},
		{name: "storage moved to a new version whose schema adds a field is not breaking", new: crd(func(c crdRef) {
			addVersion(c, "v2")
			c.Spec.Versions[0].Storage, c.Spec.Versions[1].Storage = false, true
			c.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["spec"].Properties["replicas"] = apiextensionsv1.JSONSchemaProps{Type: "integer"}
		}), rule: RuleStorageVersionMovedSuperset, side: SideCRD, says: []string{"field-added"}},
		{name: "storage moved to a new version with additions and a type change is breaking", new: crd(func(c crdRef) {
			addVersion(c, "v2")
			c.Spec.Versions[0].Storage, c.Spec.Versions[1].Storage = false, true
			moveStorageSuperset(c.Spec.Versions[1].Schema.OpenAPIV3Schema)
			c.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["spec"].Properties["name"] = apiextensionsv1.JSONSchemaProps{Type: "integer"}
		}), breaking: true, rule: RuleStorageVersionChanged, side: SideCRD},
		{name: "storage moved to a new version with an enum value removed is breaking", new: crd(func(c crdRef) {
			addVersion(c, "v2")
			c.Spec.Versions[0].Storage, c.Spec.Versions[1].Storage = false, true
			mode := c.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["spec"].Properties["mode"]
			mode.Enum = mode.Enum[1:]
			c.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["spec"].Properties["mode"] = mode
		}), breaking: true, rule: RuleStorageVersionChanged, side: SideCRD},
		{name: "storage moved to a new version with a default added is breaking", new: crd(func(c crdRef) {
			addVersion(c, "v2")
			c.Spec.Versions[0].Storage, c.Spec.Versions[1].Storage = false, true
			size := c.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["spec"].Properties["size"]
			size.Default = rawJSONPtr(`3`)
			c.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["spec"].Properties["size"] = size
		}), breaking: true, rule: RuleStorageVersionChanged, side: SideCRD},
		{name: "storage moved to a new version with a change no rule understands is breaking", new: crd(func(c crdRef) {
			addVersion(c, "v2")
			c.Spec.Versions[0].Storage, c.Spec.Versions[1].Storage = false, true
			c.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["spec"].Properties["name"] = apiextensionsv1.JSONSchemaProps{
				Type: "string", PatternProperties: map[string]apiextensionsv1.JSONSchemaProps{"^x": {Type: "string"}}}
		}), breaking: true, rule: RuleStorageVersionChanged, side: SideCRD},
		{name: "storage moved to a superset version under webhook conversion is breaking", new: crd(func(c crdRef) {
			addVersion(c, "v2")
			c.Spec.Versions[0].Storage, c.Spec.Versions[1].Storage = false, true
			moveStorageSuperset(c.Spec.Versions[1].Schema.OpenAPIV3Schema)
			c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
				Webhook: &apiextensionsv1.WebhookConversion{ConversionReviewVersions: []string{"v1"}}}
		}), breaking: true, rule: RuleStorageVersionChanged, side: SideCRD},
		{name: "storage moved to a new version with the same schema under webhook conversion is breaking", new: crd(func(c crdRef) {
			addVersion(c, "v2")
			c.Spec.Versions[0].Storage, c.Spec.Versions[1].Storage = false, true
			c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
				Webhook: &apiextensionsv1.WebhookConversion{ConversionReviewVersions: []string{"v1"}}}
		}), breaking: true, rule: RuleStorageVersionChanged, side: SideCRD},
		{name: "stored version dropped is breaking",
			old:      crd(func(c crdRef) { addVersion(c, "v1beta1"); c.Status.StoredVersions = []string{"v1beta1", "v1"} }),
			breaking: true, rule: RuleStoredVersionRemoved, side: SideCRD, version: "v1beta1", alsoBreaking: []string{RuleVersionRemoved}},
		{name: "conversion strategy changed is breaking", new: crd(func(c crdRef) {
			c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
				Webhook: &apiextensionsv1.WebhookConversion{ConversionReviewVersions: []string{"v1"}}}
		}), breaking: true, rule: RuleConversionStrategyChanged, side: SideCRD,
			says: []string{"had one version"}, neverSays: []string{"read in another version than stored come out differently"}},
		{name: "conversion strategy changed on a CRD with two versions is breaking",
			old: crd(func(c crdRef) { addVersion(c, "v2") }),
			new: crd(func(c crdRef) {
				addVersion(c, "v2")
				c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
					Webhook: &apiextensionsv1.WebhookConversion{ConversionReviewVersions: []string{"v1"}}}
			}), breaking: true, rule: RuleConversionStrategyChanged, side: SideCRD,
			says: []string{"objects read in another version than stored come out differently"}},
		{name: "webhook conversion introduced with a second version is not breaking", new: crd(func(c crdRef) {
			addVersion(c, "v2")
			c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
				Webhook: &apiextensionsv1.WebhookConversion{ConversionReviewVersions: []string{"v1"}}}
		}), rule: RuleConversionWebhookAdded, side: SideCRD, says: []string{"no existing client"}},
		{name: "conversion webhook settings changed are not breaking",
			old: crd(func(c crdRef) {
				c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
					Webhook: &apiextensionsv1.WebhookConversion{ConversionReviewVersions: []string{"v1"}}}
			}),
			new: crd(func(c crdRef) {
				c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
					Webhook: &apiextensionsv1.WebhookConversion{ConversionReviewVersions: []string{"v1", "v1beta1"}}}
			}),
			rule: RuleConversionWebhookChanged, side: SideCRD},
		{name: "spec.preserveUnknownFields changed is breaking", new: crd(func(c crdRef) { c.Spec.PreserveUnknownFields = true }),
			breaking: true, rule: RulePreserveUnknownFieldsChanged, side: SideCRD},
		{name: "status subresource removed is breaking", new: crd(func(c crdRef) { c.Spec.Versions[0].Subresources = nil }),
			breaking: true, rule: RuleStatusSubresourceRemoved, side: SideCRD, version: "v1"},
		{name: "status subresource added is breaking", old: crd(func(c crdRef) { c.Spec.Versions[0].Subresources = nil }),
			breaking: true, rule: RuleStatusSubresourceAdded, side: SideCRD, version: "v1"},
		{name: "scale subresource added is not breaking", new: crd(func(c crdRef) {
			c.Spec.Versions[0].Subresources.Scale = &apiextensionsv1.CustomResourceSubresourceScale{
				SpecReplicasPath: ".spec.size", StatusReplicasPath: ".status.replicas"}
		}), rule: RuleScaleSubresourceAdded, side: SideCRD, version: "v1"},
		{name: "scale subresource removed is breaking", old: crd(func(c crdRef) {
			c.Spec.Versions[0].Subresources.Scale = &apiextensionsv1.CustomResourceSubresourceScale{
				SpecReplicasPath: ".spec.size", StatusReplicasPath: ".status.replicas"}
		}), breaking: true, rule: RuleScaleSubresourceRemoved, side: SideCRD, version: "v1"},
		{name: "scale subresource paths changed is breaking",
			old: crd(func(c crdRef) {
				c.Spec.Versions[0].Subresources.Scale = &apiextensionsv1.CustomResourceSubresourceScale{
					SpecReplicasPath: ".spec.size", StatusReplicasPath: ".status.replicas"}
			}),
			new: crd(func(c crdRef) {
				c.Spec.Versions[0].Subresources.Scale = &apiextensionsv1.CustomResourceSubresourceScale{
					SpecReplicasPath: ".spec.replicas", StatusReplicasPath: ".status.replicas"}
			}),
			breaking: true, rule: RuleScaleSubresourceChanged, side: SideCRD, version: "v1"},
		{name: "printer columns changed are not breaking", new: crd(func(c crdRef) { c.Spec.Versions[0].AdditionalPrinterColumns = nil }),
			rule: RulePrinterColumnsChanged, side: SideCRD, version: "v1"},
		{name: "selectable field removed is breaking", new: crd(func(c crdRef) { c.Spec.Versions[0].SelectableFields = nil }),
			breaking: true, rule: RuleSelectableFieldRemoved, side: SideCRD, version: "v1"},
		{name: "selectable field added is not breaking", new: crd(func(c crdRef) {
			c.Spec.Versions[0].SelectableFields = append(c.Spec.Versions[0].SelectableFields, apiextensionsv1.SelectableField{JSONPath: ".spec.name"})
		}), rule: RuleSelectableFieldAdded, side: SideCRD, version: "v1"},
	}
}

func TestCompareRules(t *testing.T) {
	for _, tc := range ruleCases() {
		t.Run(tc.name, func(t *testing.T) {
			oldCRD, newCRD := newWidget(t), newWidget(t)
			if tc.old != nil {
				tc.old(t, oldCRD)
			}
			if tc.new != nil {
				tc.new(t, newCRD)
			}
			r := Compare(oldCRD, newCRD)
			f := findRule(r, tc.rule, tc.path)
			require.NotNil(t, f, "no %s finding at %q; got %+v", tc.rule, tc.path, r.Findings)
			assert.Equal(t, tc.breaking, r.Breaking(), "verdict; findings %+v", r.Findings)
			assert.Equal(t, tc.side, f.Side, "side")
			if tc.version != "" || f.Side != SideCRD {
				want := tc.version
				if want == "" {
					want = "v1"
				}
				assert.Equal(t, want, f.Version, "version")
			}
			wantSev := NonBreaking
			if tc.breaking {
				wantSev = Breaking
			}
			assert.Equal(t, wantSev, f.Severity, "severity")
			assert.NotEmpty(t, f.Message)
			assert.NotContains(t, f.Message, "\n")
			for _, want := range tc.says {
				assert.Contains(t, f.Message, want, "message")
			}
			for _, never := range tc.neverSays {
				assert.NotContains(t, f.Message, never, "message")
			}
			if !tc.breaking {
				assert.NotContains(t, f.Message, "rejected", "a non-breaking finding must not claim objects are rejected")
			}
			if tc.breaking {
				want := append([]string{tc.rule}, tc.alsoBreaking...)
				sort.Strings(want)
				assert.Equal(t, want, r.BreakingRules(), "breaking rules; findings %+v", r.Findings)
				switch f.Side {
				case SideStatus:
					assert.Contains(t, f.Message, "readers")
				case SideSpec, SideMetadata:
					assert.Contains(t, f.Message, "writers")
				}
			} else {
				assert.Empty(t, r.BreakingRules())
			}
		})
	}
}

// TestCompareRulesCoverTheCatalogue keeps the rule table honest: every rule
// of the catalogue has a named case.
func TestCompareRulesCoverTheCatalogue(t *testing.T) {
	covered := map[string]bool{RuleCRDAdded: true, RuleCRDRemoved: true} // TestCompareWholeCRDAddedAndRemoved
	for _, tc := range ruleCases() {
		covered[tc.rule] = true
	}
	for _, r := range Rules() {
		assert.True(t, covered[r.ID], "rule %s has no case in ruleCases", r.ID)
	}
}

func TestCompareWholeCRDAddedAndRemoved(t *testing.T) {
	w := newWidget(t)

	added := Compare(nil, w)
	require.Len(t, added.Findings, 1)
	assert.Equal(t, RuleCRDAdded, added.Findings[0].Rule)
	assert.Equal(t, SideCRD, added.Findings[0].Side)
	assert.False(t, added.Breaking())

	removed := Compare(w, nil)
	require.Len(t, removed.Findings, 1)
	assert.Equal(t, RuleCRDRemoved, removed.Findings[0].Rule)
	assert.True(t, removed.Breaking())
	assert.Equal(t, []string{RuleCRDRemoved}, removed.BreakingRules())

	assert.Empty(t, Compare(nil, nil).Findings)
}

func TestCompareUnchanged(t *testing.T) {
	cases := []struct {
		name string
		old  func(t *testing.T, c crdRef)
		new  func(t *testing.T, c crdRef)
	}{
		{name: "identical CRDs have no findings"},
		{name: "enum reordered is no change", new: at(".spec.mode", func(p schemaRef) {
			p.Enum[0], p.Enum[1] = p.Enum[1], p.Enum[0]
		})},
		{name: "required reordered is no change",
			old: at(".spec", func(p schemaRef) { p.Required = []string{"mode", "name"} }),
			new: at(".spec", func(p schemaRef) { p.Required = []string{"name", "mode"} })},
		{name: "CEL rules reordered is no change", new: at(".spec", func(p schemaRef) {
			p.XValidations = append(apiextensionsv1.ValidationRules{{Rule: "self.name != ''", Message: "named"}}, p.XValidations...)
		}), old: at(".spec", func(p schemaRef) {
			p.XValidations = append(p.XValidations, apiextensionsv1.ValidationRule{Rule: "self.name != ''", Message: "named"})
		})},
		{name: "short names and categories reordered is no change",
			old: crd(func(c crdRef) { c.Spec.Names.ShortNames = []string{"wd", "wg"} }),
			new: crd(func(c crdRef) { c.Spec.Names.ShortNames = []string{"wg", "wd"} })},
		{name: "versions reordered is no change",
			old: crd(func(c crdRef) { addVersion(c, "v2") }),
			new: crd(func(c crdRef) {
				addVersion(c, "v2")
				c.Spec.Versions[0], c.Spec.Versions[1] = c.Spec.Versions[1], c.Spec.Versions[0]
			})},
		{name: "list type atomic spelled out is no change", new: at(".spec.tags", func(p schemaRef) { p.XListType = strPtr("atomic") })},
		{name: "map type granular spelled out is no change", new: at(".spec.config", func(p schemaRef) { p.XMapType = strPtr("granular") })},
		{name: "default written with other whitespace and key order is no change",
			old: at(".spec.config", func(p schemaRef) { p.Default = rawJSONPtr(`{"level":"info","a":1}`) }),
			new: at(".spec.config", func(p schemaRef) { p.Default = rawJSONPtr(`{ "a": 1, "level": "info" }`) })},
		{name: "preserve-unknown-fields false spelled out is no change", new: at(".spec.config", func(p schemaRef) {
			f := false
			p.XPreserveUnknownFields = &f
		})},
		{name: "listKind and singular defaults spelled out are no change",
			old: crd(func(c crdRef) { c.Spec.Names.ListKind, c.Spec.Names.Singular = "", "" })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			oldCRD, newCRD := newWidget(t), newWidget(t)
			if tc.old != nil {
				tc.old(t, oldCRD)
			}
			if tc.new != nil {
				tc.new(t, newCRD)
			}
			r := Compare(oldCRD, newCRD)
			assert.Empty(t, r.Findings)
			assert.False(t, r.Breaking())
		})
	}
}

func TestCompareFindingsAreSortedAndStable(t *testing.T) {
	oldCRD, newCRD := newWidget(t), newWidget(t)
	addVersion(oldCRD, "v1beta1")
	editSchema(t, newCRD, ".spec", func(p *apiextensionsv1.JSONSchemaProps) {
		delete(p.Properties, "size")
		delete(p.Properties, "name")
		p.Required = append(p.Required, "ratio")
	})
	editSchema(t, newCRD, ".status", func(p *apiextensionsv1.JSONSchemaProps) { delete(p.Properties, "phase") })
	newCRD.Spec.Scope = apiextensionsv1.ClusterScoped

	first := Compare(oldCRD, newCRD)
	for i := 0; i < 20; i++ {
		assert.Equal(t, first, Compare(oldCRD, newCRD))
	}
	require.GreaterOrEqual(t, len(first.Findings), 5)
	assert.Equal(t, SideCRD, first.Findings[0].Side, "whole-CRD findings come first")
	assert.Equal(t, []string{RuleFieldRemoved, RuleRequiredAdded, RuleScopeChanged, RuleVersionRemoved}, first.BreakingRules())
	assert.Len(t, first.BreakingFindings(), 6)
}

func TestCompareWalksIntoAllVersions(t *testing.T) {
	oldCRD, newCRD := newWidget(t), newWidget(t)
	addVersion(oldCRD, "v2")
	addVersion(newCRD, "v2")
	delete(newCRD.Spec.Versions[1].Schema.OpenAPIV3Schema.Properties["spec"].Properties, "size")

	r := Compare(oldCRD, newCRD)
	require.Len(t, r.Findings, 1)
	assert.Equal(t, "v2", r.Findings[0].Version)
	assert.Equal(t, ".spec.size", r.Findings[0].Path)
}

// TestCompareTypeChangeReportsOnlyTypeChanged: when a declared type is
// replaced, constraints that only mean something for one type are not
// judged on that path, and its children are not listed one by one.
func TestCompareTypeChangeReportsOnlyTypeChanged(t *testing.T) {
	cases := []struct {
		name     string
		path     string
		old, new func(p schemaRef)
	}{
		{name: "object turned into a string lists no child", path: ".spec.config",
			new: func(p schemaRef) { p.Type, p.Properties = "string", nil }},
		{name: "string with a format turned into an integer reports no format-removed", path: ".spec.name",
			old: func(p schemaRef) { p.Format = "date-time" },
			new: func(p schemaRef) { p.Type, p.Format = "integer", "" }},
		{name: "string with pattern and maxLength turned into an integer with a maximum reports only type-changed", path: ".spec.name",
			old: func(p schemaRef) { p.Pattern, p.MaxLength = "^[a-z]+$", i64(10) },
			new: func(p schemaRef) { p.Type, p.Pattern, p.MaxLength, p.Maximum = "integer", "", nil, f64(10) }},
		{name: "string enum turned into an integer enum reports no enum values", path: ".spec.mode",
			new: func(p schemaRef) { p.Type, p.Enum = "integer", []apiextensionsv1.JSON{rawJSON(`1`), rawJSON(`2`)} }},
		{name: "list turned into a map reports no list limits", path: ".spec.tags",
			old: func(p schemaRef) { p.MinItems = i64(1) },
			new: func(p schemaRef) {
				p.Type, p.Items, p.MinItems = "object", nil, nil
				p.AdditionalProperties = &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &apiextensionsv1.JSONSchemaProps{Type: "string"}}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			oldCRD, newCRD := newWidget(t), newWidget(t)
			if tc.old != nil {
				editSchema(t, oldCRD, tc.path, func(p *apiextensionsv1.JSONSchemaProps) { tc.old(p) })
				editSchema(t, newCRD, tc.path, func(p *apiextensionsv1.JSONSchemaProps) { tc.old(p) })
			}
			editSchema(t, newCRD, tc.path, func(p *apiextensionsv1.JSONSchemaProps) { tc.new(p) })
			r := Compare(oldCRD, newCRD)
			require.Len(t, r.Findings, 1, "findings %+v", r.Findings)
			assert.Equal(t, RuleTypeChanged, r.Findings[0].Rule)
			assert.Equal(t, tc.path, r.Findings[0].Path)
		})
	}
}

// TestGuardedBy pins the decision on CEL rules added with a new field: a
// rule is guarded when, parsed, it is true for every object without the new
// fields (here p and parameters), however it is spelled. Whatever the
// evaluation cannot decide stays unguarded, so the rule stays breaking.
func TestGuardedBy(t *testing.T) {
	newFields := map[string]bool{"p": true, "parameters": true}
	absent := func(f string) bool { return newFields[f] }
	cases := []struct {
		name string
		rule string
		want []string // nil: not guarded
	}{
		// Guarded forms.
		{"negated has, then the check", `!has(self.parameters) || self.parameters.size > 0`, []string{"parameters"}},
		{"Klutch's form: not (has parent and has child), or a plan check",
			`!(has(self.parameters) && has(self.parameters.hostnameResolution)) || self.plan.contains('-replica-')`, []string{"parameters"}},
		{"Klutch's form over two lines, as its YAML folds it",
			"!(has(self.parameters) && has(self.parameters.replBacklogSize)) ||\nself.plan.contains('-replica-')", []string{"parameters"}},
		{"conditional on has, true otherwise", `has(self.parameters) ? self.parameters.size > 0 : true`, []string{"parameters"}},
		{"conditional on negated has, true first", `!has(self.parameters) ? true : self.parameters.size > 0`, []string{"parameters"}},
		{"guard in a later disjunct", `self.size > 0 || !has(self.p)`, []string{"p"}},
		{"guard between other disjuncts", `self.size > 0 || !has(self.p) || self.size < -1`, []string{"p"}},
		{"negated conjunction", `!(has(self.p) && self.p.size > 0)`, []string{"p"}},
		{"conjunction of guarded rules", `(!has(self.p) || self.p.a > 0) && (!has(self.p) || self.p.b > 0)`, []string{"p"}},
		{"nested conditionals", `has(self.p) ? (has(self.p.q) ? self.p.q > 0 : true) : true`, []string{"p"}},
		{"triple negation", `!!!has(self.p) || self.p.size > 0`, []string{"p"}},
		{"parentheses and spaces", "  ( (!has( self.p )) || (self.p.size > 0 && self.p.size < 10) ) ", []string{"p"}},
		{"two new fields", `(has(self.p) || has(self.parameters)) ? self.size > 0 : true`, []string{"p", "parameters"}},
		{"a rule that forbids the new field", `!has(self.parameters)`, []string{"parameters"}},
		{"operators inside string literals", `!has(self.p) || self.p.name == 'a || b ? c : d'`, []string{"p"}},
		{"raw string", `!has(self.p) || self.p.name.matches(r"^\\d+$")`, []string{"p"}},
		{"comment", "!has(self.p) // only when set\n|| self.p.size > 0", []string{"p"}},
		{"optional syntax in the checked part", `!has(self.p) || self.?q.orValue(0) > 0`, []string{"p"}},

		// Macros.
		{"all macro behind the guard", `!has(self.p) || self.p.items.all(i, i > 0)`, []string{"p"}},
		{"exists macro behind a conditional guard", `has(self.p) ? self.p.items.exists(i, i == 'x') : true`, []string{"p"}},
		{"has inside a macro is not a guard", `self.items.all(i, !has(self.p))`, nil},
		{"a comprehension variable named self is not the object", `[self.size].exists(self, !has(self.p))`, nil},
		{"map and filter macros are not decided", `self.items.filter(i, i > 0).size() > 0 || self.items.map(i, i).size() == 0`, nil},

		// Unguarded forms.
		{"no guard", `self.parameters.size > 0`, nil},
		{"has not negated", `has(self.parameters) || self.size > 0`, nil},
		{"else branch false", `has(self.parameters) ? self.parameters.size > 0 : false`, nil},
		{"conditional true on the wrong side", `has(self.parameters) ? true : self.size > 0`, nil},
		{"guard in a conjunction", `!has(self.p) && self.size > 0`, nil},
		{"guarded disjunction as a condition", `!has(self.p) || self.size > 0 ? self.size < 10 : true`, nil},
		{"guarded conjunction or-ed with an unknown", `!has(self.p) && self.size > 0 || self.size > 1`, nil},
		{"has of a nested path fails on the missing parent", `!has(self.p.size) || self.p.size > 0`, nil},
		{"has of oldSelf", `!has(oldSelf.p) || self.p.size > 0`, nil},
		{"has of a field that is not new", `!has(self.name) || self.name != 'x'`, nil},
		{"has of a field of another variable", `!has(x.p) || self.size > 0`, nil},
		{"undecided condition with true branches", `self.size > 0 ? true : true`, nil},
		{"tautology relies on no guard", `!has(self.p) || true`, nil},

		// Spelled differently, not decided: they stay breaking.
		{"has compared with false", `has(self.p) == false || self.p.size > 0`, nil},
		{"optional presence test", `!self.?p.hasValue() || self.p.size > 0`, nil},
		{"key test with in", `!('p' in self) || self.p.size > 0`, nil},

		// Text that does not parse.
		{"unbalanced opening parenthesis", `!has(self.p) || (self.x`, nil},
		{"unbalanced closing parenthesis", `!has(self.p) || self.x)`, nil},
		{"dangling operator", `!has(self.p) ||`, nil},
		{"empty", ``, nil},
		{"blank", "  \n ", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fields, ok := guardedBy(tc.rule, absent)
			assert.Equal(t, tc.want != nil, ok, "guarded: %s", tc.rule)
			assert.Equal(t, tc.want, fields)
			if ok {
				checkGuardedHolds(t, tc.rule)
			}
		})
	}
}

func TestCompareQuotesPropertyNamesThatAreNotIdentifiers(t *testing.T) {
	oldCRD, newCRD := newWidget(t), newWidget(t)
	editSchema(t, oldCRD, ".spec", func(p *apiextensionsv1.JSONSchemaProps) {
		p.Properties["app.kubernetes.io/name"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
	})
	r := Compare(oldCRD, newCRD)
	require.Len(t, r.Findings, 1)
	assert.Equal(t, `.spec["app.kubernetes.io/name"]`, r.Findings[0].Path)
}

func TestCompareSchemasOnItsOwn(t *testing.T) {
	oldSchema := firstSchema(newWidget(t))
	newSchema := oldSchema.DeepCopy()
	newSchema.Type = "string"
	r := CompareSchemas("v9", oldSchema, newSchema)
	require.Len(t, r.Findings, 1)
	assert.Equal(t, ".", r.Findings[0].Path)
	assert.Equal(t, "v9", r.Findings[0].Version)
	assert.True(t, r.Breaking())

	assert.Empty(t, CompareSchemas("v1", nil, nil).Findings)
}

func TestRulesCatalogueIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Rules() {
		assert.False(t, seen[r.ID], "duplicate rule %s", r.ID)
		seen[r.ID] = true
		assert.Regexp(t, `^[a-z]+(-[a-z]+)*$`, r.ID)
		assert.Contains(t, []Severity{Breaking, NonBreaking}, r.Severity, r.ID)
		assert.Contains(t, []string{"crd", "schema", "any"}, r.Scope, r.ID)
		assert.NotEmpty(t, r.Summary, r.ID)
	}
	assert.Equal(t, Breaking, severityOf("no-such-rule"), "an unknown rule ID fails closed")
	assert.Equal(t, Breaking, severityOf(RuleUnknownChange))
}

func TestCompareMessagesNameWhoBreaks(t *testing.T) {
	oldCRD, newCRD := newWidget(t), newWidget(t)
	editSchema(t, newCRD, ".spec.name", func(p *apiextensionsv1.JSONSchemaProps) { p.MaxLength = i64(3) })
	editSchema(t, newCRD, ".status.phase", func(p *apiextensionsv1.JSONSchemaProps) { p.MaxLength = i64(3) })
	r := Compare(oldCRD, newCRD)
	spec := findRule(r, RuleMaxLengthTightened, ".spec.name")
	status := findRule(r, RuleMaxLengthTightened, ".status.phase")
	require.NotNil(t, spec)
	require.NotNil(t, status)
	assert.True(t, strings.HasSuffix(spec.Message, "(breaks writers)"), spec.Message)
	assert.True(t, strings.HasSuffix(status.Message, "(breaks readers of status)"), status.Message)
	assert.Equal(t, "", spec.Old)
	assert.Equal(t, "3", spec.New)
}

func TestReportVerdictIsTheCommitTrailerValue(t *testing.T) {
	oldCRD, newCRD := newWidget(t), newWidget(t)
	assert.Equal(t, "non-breaking", Compare(oldCRD, newCRD).Verdict())

	editSchema(t, newCRD, ".spec.mode", func(p *apiextensionsv1.JSONSchemaProps) { p.Enum = append(p.Enum, rawJSON(`"eco"`)) })
	assert.Equal(t, "non-breaking", Compare(oldCRD, newCRD).Verdict())

	newCRD.Spec.Scope = apiextensionsv1.ClusterScoped
	editSchema(t, newCRD, ".spec", func(p *apiextensionsv1.JSONSchemaProps) { delete(p.Properties, "size") })
	assert.Equal(t, "breaking: field-removed, scope-changed", Compare(oldCRD, newCRD).Verdict())
}

// TestCompatibilityDocListsEveryRule keeps docs/compatibility.md in step
// with the catalogue.
func TestCompatibilityDocListsEveryRule(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "compatibility.md"))
	require.NoError(t, err)
	for _, r := range Rules() {
		sev := "breaking"
		if r.Severity == NonBreaking {
			sev = "non-breaking"
		}
		assert.Contains(t, string(doc), "| `"+r.ID+"` | "+sev+" |", "docs/compatibility.md must list %s as %s", r.ID, sev)
	}
}
