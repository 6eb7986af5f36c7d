package check_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// gadgetYAML is a two-version CRD with every list whose order carries no
// meaning: its enum values, required fields, CEL rules and versions are
// written in the order the placeholders give.
const gadgetYAML = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {kind: Gadget, listKind: GadgetList, plural: gadgets, singular: gadget}
  versions:
VERSIONS
`

const gadgetVersion = `  - name: NAME
    served: true
    storage: STORAGE
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: REQUIRED
            x-kubernetes-validations:
RULES
            properties:
              name: {type: string}
              size: {type: integer}
              level:
                type: string
                enum: ENUM
`

type gadgetOrder struct {
	versions       []string
	required, enum string
	rules          []string
}

func gadget(o gadgetOrder) string {
	rules := map[string]string{
		"size": "            - rule: self.size >= 0\n              message: size must not be negative",
		"name": "            - rule: self.name != ''\n              message: name must not be empty",
	}
	var versions []string
	for _, name := range o.versions {
		var rs []string
		for _, r := range o.rules {
			rs = append(rs, rules[r])
		}
		v := strings.NewReplacer("NAME", name, "STORAGE", map[bool]string{true: "true", false: "false"}[name == "v1"],
			"REQUIRED", o.required, "ENUM", o.enum, "RULES", strings.Join(rs, "\n")).Replace(gadgetVersion)
		versions = append(versions, v)
	}
	return strings.Replace(gadgetYAML, "VERSIONS\n", strings.Join(versions, ""), 1)
}

// TestCheckOrderOnlyChange: rendered files keep the provider's order, the
// schema hash is taken over the canonical form. A change of order only is
// compatible, and check says it is order-only with the same schema hash.
func TestCheckOrderOnlyChange(t *testing.T) {
	base := gadgetOrder{versions: []string{"v1", "v2"}, required: "[name, size]", enum: "[DEBUG, INFO, WARN]", rules: []string{"size", "name"}}
	cases := []struct {
		name string
		edit func(o *gadgetOrder)
	}{
		{"enum values reordered", func(o *gadgetOrder) { o.enum = "[WARN, DEBUG, INFO]" }},
		{"required reordered", func(o *gadgetOrder) { o.required = "[size, name]" }},
		{"CEL rules reordered", func(o *gadgetOrder) { o.rules = []string{"name", "size"} }},
		{"versions reordered", func(o *gadgetOrder) { o.versions = []string{"v2", "v1"} }},
		{"everything reordered at once", func(o *gadgetOrder) {
			*o = gadgetOrder{versions: []string{"v2", "v1"}, required: "[size, name]", enum: "[INFO, WARN, DEBUG]", rules: []string{"name", "size"}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			changed := base
			tc.edit(&changed)
			oldPath := writeFile(t, dir, "old.yaml", gadget(base))
			newPath := writeFile(t, dir, "new.yaml", gadget(changed))
			require.NotEqual(t, gadget(base), gadget(changed), "the files must differ in bytes")

			code, stdout, stderr := run("check", oldPath, newPath)
			assert.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Contains(t, stdout, "compatible: same schema (hash ")
			assert.NotContains(t, stdout, "BREAKING")

			code, stdout, _ = run("check", "-o", "json", oldPath, newPath)
			assert.Equal(t, 0, code)
			r := decode(t, stdout)
			require.Len(t, r.Results, 1)
			assert.True(t, r.Results[0].SameSchema)
			assert.NotEmpty(t, r.Results[0].SchemaHash)
			assert.Empty(t, r.Results[0].Findings)
			assert.Zero(t, r.Breaking)
		})
	}

	t.Run("a CRD compared with itself is not called order-only", func(t *testing.T) {
		p := writeFile(t, t.TempDir(), "same.yaml", gadget(base))
		code, stdout, _ := run("check", p, p)
		assert.Equal(t, 0, code)
		assert.NotContains(t, stdout, "same schema")
	})
	t.Run("a real change is not called order-only", func(t *testing.T) {
		dir := t.TempDir()
		changed := base
		changed.enum = "[DEBUG, INFO, WARN, ERROR]"
		code, stdout, _ := run("check", writeFile(t, dir, "old.yaml", gadget(base)), writeFile(t, dir, "new.yaml", gadget(changed)))
		assert.Equal(t, 0, code)
		assert.NotContains(t, stdout, "same schema")
	})
}

// TestCheckTableShowsWhereLongValuesDiffer: the table caps OLD and NEW at
// 40 characters; two CEL rules that differ only after that must still print
// differently, cut around where they differ.
func TestCheckTableShowsWhereLongValuesDiffer(t *testing.T) {
	dir := t.TempDir()
	withRule := func(limit string) string {
		rule := "self.size >= 0 && self.name.size() > 3 && self.name.size() < 64 && self.size <= " + limit
		return strings.Replace(gadget(gadgetOrder{versions: []string{"v1"}, required: "[name]", enum: "[DEBUG]", rules: []string{"size"}}),
			"rule: self.size >= 0\n", "rule: "+rule+"\n", 1)
	}
	oldPath := writeFile(t, dir, "old.yaml", withRule("10"))
	newPath := writeFile(t, dir, "new.yaml", withRule("20"))

	code, stdout, stderr := run("check", oldPath, newPath)
	require.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	var row string
	for _, line := range strings.Split(stdout, "\n") {
		if strings.Contains(line, "validation-rule-changed") {
			row = line
		}
	}
	require.NotEmpty(t, row, stdout)
	assert.Contains(t, row, "<= 10")
	assert.Contains(t, row, "<= 20")
	assert.Contains(t, row, "cannot tell whether the new rule is looser or tighter")
}
