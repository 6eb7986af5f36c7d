package compat

import (
	"encoding/json"
	"sort"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// FuzzCompare feeds the engine arbitrary schemas: JSON unmarshalled into
// JSONSchemaProps and wrapped into the widget CRD. The engine must never
// panic, must find nothing when a schema is compared with a copy of itself,
// and must always produce a well-formed report.
//
//	go test -run '^$' -fuzz FuzzCompare -fuzztime 60s ./internal/compat/
func FuzzCompare(f *testing.F) {
	widget := newWidget(f)
	seeds := [][]byte{[]byte(`{}`), []byte(`{"type":"object"}`), schemaJSON(f, widget)}
	for _, name := range klutchFiles(f) {
		seeds = append(seeds, schemaJSON(f, loadKlutchCRD(f, name)))
	}
	for i, a := range seeds {
		f.Add(a, a)
		f.Add(a, seeds[(i+1)%len(seeds)])
	}
	f.Add([]byte(`{"properties":{"spec":{"enum":[1,"1",{"b":1,"a":2}],"default":{"x":[1,2]}}}}`),
		[]byte(`{"properties":{"spec":{"enum":[{"a":2,"b":1}],"allOf":[{"not":{}}],"additionalProperties":false}}}`))

	f.Fuzz(func(t *testing.T, oldJSON, newJSON []byte) {
		oldSchema, okOld := fuzzSchema(oldJSON)
		newSchema, okNew := fuzzSchema(newJSON)
		if okOld {
			self := Compare(fuzzCRD(widget, oldSchema), fuzzCRD(widget, oldSchema.DeepCopy()))
			if len(self.Findings) != 0 || self.Breaking() {
				t.Fatalf("schema compared with itself has findings: %+v", self.Findings)
			}
		}
		if okOld && okNew {
			r := Compare(fuzzCRD(widget, oldSchema), fuzzCRD(widget, newSchema))
			checkWellFormed(t, r)
		}
	})
}

// FuzzCompareCRDs feeds the engine arbitrary whole CRDs.
func FuzzCompareCRDs(f *testing.F) {
	raw, err := json.Marshal(newWidget(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw, raw)
	for _, name := range klutchFiles(f) {
		b, err := json.Marshal(loadKlutchCRD(f, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, raw)
	}
	f.Fuzz(func(t *testing.T, oldJSON, newJSON []byte) {
		oldCRD, newCRD := &apiextensionsv1.CustomResourceDefinition{}, &apiextensionsv1.CustomResourceDefinition{}
		if json.Unmarshal(oldJSON, oldCRD) != nil || json.Unmarshal(newJSON, newCRD) != nil {
			return
		}
		if self := Compare(oldCRD, oldCRD.DeepCopy()); len(self.Findings) != 0 {
			t.Fatalf("CRD compared with itself has findings: %+v", self.Findings)
		}
		checkWellFormed(t, Compare(oldCRD, newCRD))
	})
}

func schemaJSON(t testing.TB, crd *apiextensionsv1.CustomResourceDefinition) []byte {
	b, err := json.Marshal(firstSchema(crd))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fuzzSchema(raw []byte) (*apiextensionsv1.JSONSchemaProps, bool) {
	s := &apiextensionsv1.JSONSchemaProps{}
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, false
	}
	return s, true
}

func fuzzCRD(base *apiextensionsv1.CustomResourceDefinition, s *apiextensionsv1.JSONSchemaProps) *apiextensionsv1.CustomResourceDefinition {
	crd := base.DeepCopy()
	crd.Spec.Versions[0].Schema.OpenAPIV3Schema = s
	return crd
}

func checkWellFormed(t *testing.T, r Report) {
	t.Helper()
	known := map[string]Severity{}
	for _, info := range Rules() {
		known[info.ID] = info.Severity
	}
	breaking := false
	for _, f := range r.Findings {
		sev, ok := known[f.Rule]
		if !ok {
			t.Fatalf("finding with a rule missing from the catalogue: %+v", f)
		}
		if sev != f.Severity {
			t.Fatalf("finding severity %s differs from the catalogue's %s: %+v", f.Severity, sev, f)
		}
		if f.Message == "" || f.Side == "" {
			t.Fatalf("finding without message or side: %+v", f)
		}
		breaking = breaking || f.Severity == Breaking
	}
	if breaking != r.Breaking() || breaking != (len(r.BreakingRules()) > 0) {
		t.Fatalf("Breaking() disagrees with the findings: %+v", r.Findings)
	}
	if !sort.StringsAreSorted(r.BreakingRules()) {
		t.Fatalf("BreakingRules not sorted: %v", r.BreakingRules())
	}
	again := make([]Finding, len(r.Findings))
	copy(again, r.Findings)
	sortFindings(again)
	for i := range again {
		if again[i] != r.Findings[i] {
			t.Fatalf("findings not in sorted order at %d", i)
		}
	}
}

// FuzzCompareGenerated builds two schemas with a generator driven by the
// fuzz bytes. Names, values and constraints come from small sets, so the
// two schemas share most of their shape and every rule gets exercised, which
// JSON mutation alone rarely reaches.
//
//	go test -run '^$' -fuzz FuzzCompareGenerated -fuzztime 60s ./internal/compat/
func FuzzCompareGenerated(f *testing.F) {
	f.Add([]byte{0}, []byte{0})
	f.Add([]byte("spec-and-status"), []byte("spec-and-status!"))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17})
	widget := newWidget(f)
	f.Fuzz(func(t *testing.T, a, b []byte) {
		x := (&schemaGen{data: a}).schema(0)
		y := (&schemaGen{data: b}).schema(0)
		self := Compare(fuzzCRD(widget, x), fuzzCRD(widget, x.DeepCopy()))
		if len(self.Findings) != 0 {
			t.Fatalf("generated schema compared with itself has findings: %+v", self.Findings)
		}
		forward := Compare(fuzzCRD(widget, x), fuzzCRD(widget, y))
		backward := Compare(fuzzCRD(widget, y), fuzzCRD(widget, x))
		checkWellFormed(t, forward)
		checkWellFormed(t, backward)
		// No finding one way means no difference, so none the other way.
		if (len(forward.Findings) == 0) != (len(backward.Findings) == 0) {
			t.Fatalf("findings only one way:\nforward %+v\nbackward %+v", forward.Findings, backward.Findings)
		}
	})
}

// schemaGen turns bytes into a schema; when the bytes run out it reads zeros.
type schemaGen struct {
	data []byte
	pos  int
}

func (g *schemaGen) next() int {
	if g.pos >= len(g.data) {
		return 0
	}
	b := g.data[g.pos]
	g.pos++
	return int(b)
}

func (g *schemaGen) bit() bool { return g.next()%2 == 1 }

func (g *schemaGen) pick(options ...string) string { return options[g.next()%len(options)] }

func (g *schemaGen) i64() *int64 {
	if !g.bit() {
		return nil
	}
	return i64(int64(g.next() % 5))
}

func (g *schemaGen) f64() *float64 {
	if !g.bit() {
		return nil
	}
	return f64(float64(g.next()%7) - 2)
}

func (g *schemaGen) schema(depth int) *apiextensionsv1.JSONSchemaProps {
	p := &apiextensionsv1.JSONSchemaProps{Type: g.pick("object", "array", "string", "integer", "number", "boolean", "")}
	flags := g.next()
	if flags&1 != 0 {
		p.Description = g.pick("a", "b")
	}
	if flags&2 != 0 {
		for n := g.next() % 3; n >= 0; n-- {
			p.Enum = append(p.Enum, rawJSON(g.pick(`"a"`, `"b"`, `1`, `{"k":1}`, `null`)))
		}
	}
	if flags&4 != 0 {
		p.MinLength, p.MaxLength, p.MinItems, p.MaxItems = g.i64(), g.i64(), g.i64(), g.i64()
		p.MinProperties, p.MaxProperties = g.i64(), g.i64()
		p.Minimum, p.Maximum, p.MultipleOf = g.f64(), g.f64(), g.f64()
		p.ExclusiveMinimum, p.ExclusiveMaximum, p.UniqueItems = g.bit(), g.bit(), g.bit()
	}
	if flags&8 != 0 {
		p.Pattern, p.Format = g.pick("", "^a$", "^b$"), g.pick("", "uri", "date-time")
		p.Nullable = g.bit()
		if g.bit() {
			p.Default = rawJSONPtr(g.pick(`"a"`, `1`, `{"a":1,"b":2}`, `{"b":2,"a":1}`))
		}
	}
	if flags&16 != 0 {
		if g.bit() {
			p.XPreserveUnknownFields = truePtr()
		}
		p.XIntOrString, p.XEmbeddedResource = g.bit(), g.bit()
		if g.bit() {
			p.XListType = strPtr(g.pick("atomic", "set", "map"))
			p.XListMapKeys = []string{g.pick("name", "port")}
		}
		if g.bit() {
			p.XMapType = strPtr(g.pick("granular", "atomic"))
		}
	}
	if flags&32 != 0 {
		for n := g.next() % 3; n > 0; n-- {
			p.XValidations = append(p.XValidations, apiextensionsv1.ValidationRule{
				Rule: g.pick("self.a > 0", "self.b > 0", "self == oldSelf"), Message: g.pick("", "m1", "m2")})
		}
	}
	if flags&64 != 0 && depth < 3 {
		switch g.next() % 4 {
		case 0:
			p.AllOf = []apiextensionsv1.JSONSchemaProps{*g.schema(depth + 2)}
		case 1:
			p.AnyOf = []apiextensionsv1.JSONSchemaProps{*g.schema(depth + 2), *g.schema(depth + 2)}
		case 2:
			p.OneOf = []apiextensionsv1.JSONSchemaProps{*g.schema(depth + 2)}
		default:
			p.Not = g.schema(depth + 2)
		}
	}
	if depth < 4 {
		switch g.next() % 4 {
		case 0:
			p.Properties = map[string]apiextensionsv1.JSONSchemaProps{}
			for n := g.next() % 4; n > 0; n-- {
				p.Properties[g.pick("spec", "status", "metadata", "name", "port", "x.y")] = *g.schema(depth + 1)
			}
			for n := g.next() % 3; n > 0; n-- {
				p.Required = append(p.Required, g.pick("spec", "status", "name", "port"))
			}
		case 1:
			p.Items = &apiextensionsv1.JSONSchemaPropsOrArray{Schema: g.schema(depth + 1)}
		case 2:
			p.AdditionalProperties = &apiextensionsv1.JSONSchemaPropsOrBool{Allows: g.bit()}
			if g.bit() {
				p.AdditionalProperties = &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: g.schema(depth + 1)}
			}
		}
	}
	return p
}
