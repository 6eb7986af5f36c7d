package schema

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
//	go test -run '^$' -fuzz FuzzCompare -fuzztime 60s ./internal/schema/
func FuzzCompare(f *testing.F) {
	widget := compatWidget(f)
	seeds := [][]byte{[]byte(`{}`), []byte(`{"type":"object"}`), compatSchemaJSON(f, widget)}
	for _, name := range compatKlutchFiles(f) {
		seeds = append(seeds, compatSchemaJSON(f, compatLoadCRD(f, name)))
	}
	for i, a := range seeds {
		f.Add(a, a)
		f.Add(a, seeds[(i+1)%len(seeds)])
	}
	f.Add([]byte(`{"properties":{"spec":{"enum":[1,"1",{"b":1,"a":2}],"default":{"x":[1,2]}}}}`),
		[]byte(`{"properties":{"spec":{"enum":[{"a":2,"b":1}],"allOf":[{"not":{}}],"additionalProperties":false}}}`))

	f.Fuzz(func(t *testing.T, oldJSON, newJSON []byte) {
		oldSchema, okOld := compatFuzzSchema(oldJSON)
		newSchema, okNew := compatFuzzSchema(newJSON)
		if okOld {
			self := Compare(compatFuzzCRD(widget, oldSchema), compatFuzzCRD(widget, oldSchema.DeepCopy()))
			if len(self.Findings) != 0 || self.Breaking() {
				t.Fatalf("schema compared with itself has findings: %+v", self.Findings)
			}
		}
		if okOld && okNew {
			r := Compare(compatFuzzCRD(widget, oldSchema), compatFuzzCRD(widget, newSchema))
			compatCheckWellFormed(t, r)
		}
	})
}

// FuzzCompareCRDs feeds the engine arbitrary whole CRDs.
func FuzzCompareCRDs(f *testing.F) {
	raw, err := json.Marshal(compatWidget(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw, raw)
	for _, name := range compatKlutchFiles(f) {
		b, err := json.Marshal(compatLoadCRD(f, name))
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
		compatCheckWellFormed(t, Compare(oldCRD, newCRD))
	})
}

func compatSchemaJSON(t testing.TB, crd *apiextensionsv1.CustomResourceDefinition) []byte {
	b, err := json.Marshal(compatSchema(crd))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func compatFuzzSchema(raw []byte) (*apiextensionsv1.JSONSchemaProps, bool) {
	s := &apiextensionsv1.JSONSchemaProps{}
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, false
	}
	return s, true
}

func compatFuzzCRD(base *apiextensionsv1.CustomResourceDefinition, s *apiextensionsv1.JSONSchemaProps) *apiextensionsv1.CustomResourceDefinition {
	crd := base.DeepCopy()
	crd.Spec.Versions[0].Schema.OpenAPIV3Schema = s
	return crd
}

func compatCheckWellFormed(t *testing.T, r Report) {
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
	compatSortFindings(again)
	for i := range again {
		if again[i] != r.Findings[i] {
			t.Fatalf("findings not in sorted order at %d", i)
		}
	}
}
