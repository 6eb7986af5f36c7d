package compat

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

func TestCompareRealCRDWithItselfHasNoFindings(t *testing.T) {
	for _, name := range klutchFiles(t) {
		t.Run(name, func(t *testing.T) {
			crd := loadKlutchCRD(t, name)
			r := Compare(crd, crd.DeepCopy())
			assert.Empty(t, r.Findings)
			assert.False(t, r.Breaking())
		})
	}
}

func TestCompareRealCRDWithReorderedCopyHasNoFindings(t *testing.T) {
	for _, name := range klutchFiles(t) {
		t.Run(name, func(t *testing.T) {
			crd := loadKlutchCRD(t, name)
			reordered := reorderedCopy(t, crd)
			require.NotEqual(t, marshal(crd), marshal(reordered), "the copy must differ in order")
			r := Compare(crd, reordered)
			assert.Empty(t, r.Findings)
			r = Compare(reordered, crd)
			assert.Empty(t, r.Findings)
		})
	}
}

// reorderedCopy re-encodes crd as JSON (which is YAML) with every
// object's keys in reverse order, parses it back, and reverses every list
// whose order carries no meaning.
func reorderedCopy(t *testing.T, crd *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	raw, err := json.Marshal(crd)
	require.NoError(t, err)
	var generic any
	require.NoError(t, json.Unmarshal(raw, &generic))
	var buf bytes.Buffer
	writeReversed(&buf, generic)
	out := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, yaml.Unmarshal(buf.Bytes(), out))

	slices.Reverse(out.Spec.Versions)
	slices.Reverse(out.Spec.Names.ShortNames)
	slices.Reverse(out.Spec.Names.Categories)
	slices.Reverse(out.Status.StoredVersions)
	for i := range out.Spec.Versions {
		if s := versionSchemaOf(&out.Spec.Versions[i]); s != nil {
			reverseUnordered(s)
		}
	}
	return out
}

func reverseUnordered(p *apiextensionsv1.JSONSchemaProps) {
	slices.Reverse(p.Enum)
	slices.Reverse(p.Required)
	slices.Reverse(p.XValidations)
	slices.Reverse(p.XListMapKeys)
	for name, child := range p.Properties {
		reverseUnordered(&child)
		p.Properties[name] = child
	}
	if p.Items != nil && p.Items.Schema != nil {
		reverseUnordered(p.Items.Schema)
	}
	if p.AdditionalProperties != nil && p.AdditionalProperties.Schema != nil {
		reverseUnordered(p.AdditionalProperties.Schema)
	}
}

// writeReversed writes v as JSON with object keys in reverse order.
func writeReversed(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Sort(sort.Reverse(sort.StringSlice(keys)))
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(strconv.Quote(k))
			buf.WriteByte(':')
			writeReversed(buf, x[k])
		}
		buf.WriteByte('}')
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeReversed(buf, e)
		}
		buf.WriteByte(']')
	default:
		b, _ := json.Marshal(x)
		buf.Write(b)
	}
}

func TestCompareRealCRDEdits(t *testing.T) {
	const pg = "postgresqlinstances.anynines.com.yaml"
	cases := []struct {
		name     string
		file     string
		old      func(t *testing.T, c crdRef)
		edit     func(t *testing.T, c crdRef)
		breaking bool
		rule     string
		path     string
		side     Side
	}{
		{name: "removing maxConnections is breaking", file: pg,
			edit:     at(".spec.parameters", func(p schemaRef) { delete(p.Properties, "maxConnections") }),
			breaking: true, rule: RuleFieldRemoved, path: ".spec.parameters.maxConnections", side: SideSpec},
		{name: "adding a synchronousCommit value is not breaking", file: pg,
			edit: at(".spec.parameters.synchronousCommit", func(p schemaRef) { p.Enum = append(p.Enum, rawJSON(`"quorum"`)) }),
			rule: RuleEnumValueAdded, path: ".spec.parameters.synchronousCommit", side: SideSpec},
		{name: "removing the LoadBalancer expose value is breaking", file: pg,
			edit:     at(".spec.expose", func(p schemaRef) { p.Enum = p.Enum[:1] }),
			breaking: true, rule: RuleEnumValueRemoved, path: ".spec.expose", side: SideSpec},
		{name: "a maxLength on the plan is breaking", file: pg,
			edit:     at(".spec.plan", func(p schemaRef) { p.MaxLength = i64(64) }),
			breaking: true, rule: RuleMaxLengthTightened, path: ".spec.plan", side: SideSpec},
		{name: "raising a maxLength is not breaking", file: pg,
			old:  at(".spec.plan", func(p schemaRef) { p.MaxLength = i64(32) }),
			edit: at(".spec.plan", func(p schemaRef) { p.MaxLength = i64(64) }),
			rule: RuleMaxLengthLoosened, path: ".spec.plan", side: SideSpec},
		{name: "a new optional parameter is not breaking", file: pg,
			edit: at(".spec.parameters", func(p schemaRef) {
				p.Properties["sharedBuffers"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
			}),
			rule: RuleFieldAdded, path: ".spec.parameters.sharedBuffers", side: SideSpec},
		{name: "making the expose field required is breaking", file: pg,
			edit:     at(".spec", func(p schemaRef) { p.Required = append(p.Required, "expose") }),
			breaking: true, rule: RuleRequiredAdded, path: ".spec.expose", side: SideSpec},
		{name: "dropping a CEL rule is not breaking", file: pg,
			edit: at(".spec", func(p schemaRef) { p.XValidations = p.XValidations[1:] }),
			rule: RuleValidationRuleRemoved, path: ".spec", side: SideSpec},
		{name: "a condition field removed from status is breaking for readers", file: pg,
			edit:     at(".status.conditions[*]", func(p schemaRef) { delete(p.Properties, "reason") }),
			breaking: true, rule: RuleFieldRemoved, path: ".status.conditions[*].reason", side: SideStatus},
		{name: "conditions keyed by another field is breaking", file: pg,
			edit:     at(".status.conditions", func(p schemaRef) { p.XListMapKeys = []string{"reason"} }),
			breaking: true, rule: RuleListMapKeysChanged, path: ".status.conditions", side: SideStatus},
		{name: "a description rewrite is not breaking", file: "backups.anynines.com.yaml",
			edit: at(".spec", func(p schemaRef) { p.Description = "Rewritten." }),
			rule: RuleDescriptionChanged, path: ".spec", side: SideSpec},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			oldCRD, newCRD := loadKlutchCRD(t, tc.file), loadKlutchCRD(t, tc.file)
			if tc.old != nil {
				tc.old(t, oldCRD)
			}
			tc.edit(t, newCRD)
			r := Compare(oldCRD, newCRD)
			require.Len(t, r.Findings, 1, "findings %+v", r.Findings)
			f := r.Findings[0]
			assert.Equal(t, tc.rule, f.Rule)
			assert.Equal(t, tc.path, f.Path)
			assert.Equal(t, tc.side, f.Side)
			assert.Equal(t, "v1", f.Version)
			assert.Equal(t, tc.breaking, r.Breaking())
		})
	}
}

// loadKlutchHistoryCRD reads an earlier state of a real Klutch CRD from
// testdata/crds/klutch-history.
func loadKlutchHistoryCRD(t testing.TB, name string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "crds", "klutch-history", name))
	require.NoError(t, err)
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, yaml.UnmarshalStrict(raw, crd), name)
	require.Equal(t, "CustomResourceDefinition", crd.Kind, name)
	return crd
}

// TestCompareKlutchKeyValueCustomParameters judges Klutch's real change "Add
// Custom Parameter Support for a9s KeyValue": a new optional .spec.parameters
// and six CEL rules on .spec of the form
// `!(has(self.parameters) && has(self.parameters.x)) || self.plan.contains('-replica-')`.
// Every rule is true for an object without parameters, and no stored object
// has them, so the change rolls out without approval.
func TestCompareKlutchKeyValueCustomParameters(t *testing.T) {
	const name = "keyvalueinstances.anynines.com"
	before := loadKlutchHistoryCRD(t, name+".before-custom-parameters.yaml")
	after := loadKlutchCRD(t, name+".yaml")

	r := Compare(before, after)
	assert.Equal(t, "non-breaking", r.Verdict(), "breaking findings: %+v", r.BreakingFindings())
	var guarded []string
	for _, f := range r.Findings {
		switch f.Rule {
		case RuleValidationRuleAddedGuarded:
			assert.Equal(t, ".spec", f.Path)
			assert.Equal(t, "v1", f.Version)
			assert.Contains(t, f.Message, "has(self.parameters)")
			assert.Contains(t, f.Message, ".spec.parameters")
			guarded = append(guarded, f.New)
		case RuleFieldAdded:
			assert.Equal(t, ".spec.parameters", f.Path)
		default:
			t.Errorf("unexpected finding %+v", f)
		}
	}
	assert.Len(t, guarded, 6, "one guarded finding per CEL rule the change added")
	for _, rule := range guarded {
		assert.Contains(t, rule, "self.plan.contains('-replica-')")
	}

	// The way back removes a field that objects now hold: breaking.
	back := Compare(after, before)
	assert.Contains(t, back.BreakingRules(), RuleFieldRemoved)

	// The same rules with has() of the nested field only fail on every
	// stored object (self.parameters is missing): breaking.
	unguarded := nestedHasOnly(t, after)
	assert.Equal(t, []string{RuleValidationRuleAdded}, Compare(before, unguarded).BreakingRules())
}

// TestCompareKlutchStorageMovesToSupersetVersion is the upgrade-safety
// suites' "valid upgrade" on a real CRD: a new version v2 whose schema only
// adds to v1's (a plan enum value, a description) becomes the storage
// version. Objects stored as v1 read and validate the same, so the move is
// not breaking; a v2 that drops a field or changes a type still is.
func TestCompareKlutchStorageMovesToSupersetVersion(t *testing.T) {
	const name = "keyvalueinstances.anynines.com.yaml"
	withV2 := func(edit func(spec *apiextensionsv1.JSONSchemaProps)) *apiextensionsv1.CustomResourceDefinition {
		crd := loadKlutchCRD(t, name)
		v2 := *crd.Spec.Versions[0].DeepCopy()
		v2.Name = "v2"
		crd.Spec.Versions[0].Storage = false
		spec := v2.Schema.OpenAPIV3Schema.Properties["spec"]
		edit(&spec)
		v2.Schema.OpenAPIV3Schema.Properties["spec"] = spec
		crd.Spec.Versions = append(crd.Spec.Versions, v2)
		return crd
	}
	addPlan := func(spec *apiextensionsv1.JSONSchemaProps) {
		plan := spec.Properties["plan"]
		plan.Enum = append(plan.Enum, rawJSON(`"keyvalue-replica-huge-ssl"`))
		plan.Description += " v2 adds keyvalue-replica-huge-ssl."
		spec.Properties["plan"] = plan
	}
	cases := []struct {
		name  string
		edit  func(spec *apiextensionsv1.JSONSchemaProps)
		rules []string // breaking rules; nil: not breaking
		rule  string   // the storage finding's rule
	}{
		{name: "a plan added and a description changed is not breaking", edit: addPlan,
			rule: RuleStorageVersionMovedSuperset},
		{name: "the same schema is not breaking", edit: func(*apiextensionsv1.JSONSchemaProps) {},
			rule: RuleStorageVersionMovedSameSchema},
		{name: "a field removed is breaking", edit: func(spec *apiextensionsv1.JSONSchemaProps) {
			addPlan(spec)
			delete(spec.Properties, "acceptsIncomplete")
		}, rules: []string{RuleStorageVersionChanged}, rule: RuleStorageVersionChanged},
		{name: "a type changed is breaking", edit: func(spec *apiextensionsv1.JSONSchemaProps) {
			addPlan(spec)
			spec.Properties["acceptsIncomplete"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
		}, rules: []string{RuleStorageVersionChanged}, rule: RuleStorageVersionChanged},
		{name: "a plan removed is breaking", edit: func(spec *apiextensionsv1.JSONSchemaProps) {
			plan := spec.Properties["plan"]
			plan.Enum = plan.Enum[1:]
			spec.Properties["plan"] = plan
		}, rules: []string{RuleStorageVersionChanged}, rule: RuleStorageVersionChanged},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Compare(loadKlutchCRD(t, name), withV2(tc.edit))
			assert.Equal(t, tc.rules, r.BreakingRules(), "findings %+v", r.Findings)
			var storage []string
			for _, f := range r.Findings {
				if strings.HasPrefix(f.Rule, "storage-version") {
					storage = append(storage, f.Rule)
				}
			}
			assert.Equal(t, []string{tc.rule}, storage)
		})
	}
}

// nestedHasOnly returns the Klutch KeyValue CRD with each rule on .spec
// rewritten from !(has(self.parameters) && has(self.parameters.x)) || ...
// to !has(self.parameters.x) || ...: has() of a nested field fails when
// parameters is missing, so these rules reject every object without it.
func nestedHasOnly(t testing.TB, crd *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	out := crd.DeepCopy()
	spec := out.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	require.NotEmpty(t, spec.XValidations)
	for i := range spec.XValidations {
		r := replaceOnce(t, spec.XValidations[i].Rule, "!(has(self.parameters) && has(", "!has(")
		spec.XValidations[i].Rule = replaceOnce(t, r, ")) ||", ") ||")
	}
	out.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
	return out
}

func replaceOnce(t testing.TB, s, old, new string) string {
	t.Helper()
	out := strings.Replace(s, old, new, 1)
	require.NotEqual(t, s, out, "%q not in %q", old, s)
	return out
}
