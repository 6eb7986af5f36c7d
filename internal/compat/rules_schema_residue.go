package compat

import (
	"reflect"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

func checkDescription(c *collector, n *node) {
	if n.old.Description == n.new.Description && n.old.Title == n.new.Title && n.old.Example == nil && n.new.Example == nil &&
		n.old.ExternalDocs == nil && n.new.ExternalDocs == nil {
		return
	}
	type doc struct {
		name     string
		old, new string
	}
	docs := []doc{
		{"description", n.old.Description, n.new.Description},
		{"title", n.old.Title, n.new.Title},
		{"example", jsonPtr(n.old.Example), jsonPtr(n.new.Example)},
		{"externalDocs", docsString(n.old.ExternalDocs), docsString(n.new.ExternalDocs)},
	}
	for _, d := range docs {
		if d.old != d.new {
			c.add(n.finding(RuleDescriptionChanged, d.old, d.new, d.name+" changed"))
		}
	}
}

func jsonPtr(j *apiextensionsv1.JSON) string {
	if j == nil {
		return ""
	}
	return canonicalJSON(j.Raw)
}

func docsString(d *apiextensionsv1.ExternalDocumentation) string {
	if d == nil {
		return ""
	}
	return marshal(d)
}

// blankKnown copies p into dst with every field a schema rule or the
// walk reads set to its zero value. What is left is what no rule
// understands.
func blankKnown(dst, p *apiextensionsv1.JSONSchemaProps, walkedItems bool) {
	*dst = *p
	dst.Description, dst.Title, dst.Example, dst.ExternalDocs = "", "", nil, nil
	dst.Type, dst.Format, dst.Pattern, dst.Default, dst.Nullable = "", "", "", nil, false
	dst.Maximum, dst.ExclusiveMaximum, dst.Minimum, dst.ExclusiveMinimum = nil, false, nil, false
	dst.MaxLength, dst.MinLength, dst.MaxItems, dst.MinItems = nil, nil, nil, nil
	dst.MaxProperties, dst.MinProperties, dst.MultipleOf, dst.UniqueItems = nil, nil, nil, false
	dst.Enum, dst.Required, dst.Properties, dst.AdditionalProperties = nil, nil, nil, nil
	dst.AllOf, dst.AnyOf, dst.OneOf, dst.Not = nil, nil, nil, nil
	dst.XPreserveUnknownFields, dst.XIntOrString, dst.XEmbeddedResource = nil, false, false
	dst.XListType, dst.XListMapKeys, dst.XMapType, dst.XValidations = nil, nil, nil, nil
	if walkedItems {
		dst.Items = nil
	}
}

// checkSchemaResidue is the fail-closed rule: any difference left
// after blanking every field a rule understands is breaking. It works on the
// collector's scratch copies, so the walk does not allocate per property.
func checkSchemaResidue(c *collector, n *node) {
	oi, ni := itemsSchema(n.old), itemsSchema(n.new)
	walked := oi != nil && ni != nil
	if (n.old.Items == nil && n.new.Items == nil) || typeReplaced(n.old, n.new) {
		walked = true // nothing to compare, or type-changed covers it
	}
	o, nw := &c.scratch[0], &c.scratch[1]
	blankKnown(o, n.old, walked)
	blankKnown(nw, n.new, walked)
	defer func() { *o, *nw = apiextensionsv1.JSONSchemaProps{}, apiextensionsv1.JSONSchemaProps{} }()
	if reflect.DeepEqual(o, nw) {
		return
	}
	if oj, nj := marshal(o), marshal(nw); oj != nj {
		c.add(n.finding(RuleUnknownChange, oj, nj, "schema changed in a way no rule understands; treated as breaking"))
	}
}
