package compat

import (
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// node is one property present in both schemas, with where it is.
type node struct {
	version string
	path    string
	side    Side
	old     *apiextensionsv1.JSONSchemaProps
	new     *apiextensionsv1.JSONSchemaProps
	// declared and keptBy are set inside a property newly declared under an
	// object that keeps unknown fields: declared is that property's path,
	// keptBy the path of the object. old is then anyValueLike(new): stored
	// objects may already hold the property, with any value.
	declared, keptBy string
}

// finding builds a finding of rule id at this node. Breaking findings say who
// is hurt: writers for spec, readers for status.
func (n *node) finding(id, oldValue, newValue, message string) Finding {
	sev := severityOf(id)
	if sev == Breaking {
		if n.declared != "" {
			message += "; " + n.declared + " is newly declared under " + n.keptBy +
				", which keeps unknown fields, so stored objects may already hold it with any value"
		}
		message += whoBreaks(n.side)
	}
	return Finding{
		Version: n.version, Path: n.path, Rule: id, Side: n.side, Severity: sev,
		Old: oldValue, New: newValue, Message: message,
	}
}

// at returns a node for a child path with the same version and side.
func (n *node) at(path string) *node {
	return &node{version: n.version, path: path, side: n.side, declared: n.declared, keptBy: n.keptBy}
}

// schemaRule is one check of a property present in both schemas. Each
// rule reads only its own fields; blankKnown lists them all, so that
// the unknown-change rule sees what no rule read.
type schemaRule struct {
	name  string
	check func(c *collector, n *node)
	// sameType marks constraints that only mean something for one type
	// (enum values, lengths, patterns, ...). They are not judged on a node
	// whose declared type changed: type-changed already says every value
	// must change, and a format-removed next to it would read as relief.
	sameType bool
}

// schemaRules run, in this order, on every property present in both
// schemas. The walk (compareSchemaNodes) then descends into properties,
// items and additionalProperties schemas.
var schemaRules = []schemaRule{
	{"type", checkType, false},
	{"enum", checkEnum, true},
	{"required", checkRequired, true},
	{"limits", checkLimits, true},
	{"multiple-of", checkMultipleOf, true},
	{"unique-items", checkUniqueItems, true},
	{"pattern", checkPattern, true},
	{"format", checkFormat, true},
	{"nullable", checkNullable, false},
	{"default", checkDefault, false},
	{"extensions", checkExtensions, false},
	{"list-map-keys", checkListMapKeys, true},
	{"additional-properties", checkAdditionalProperties, true},
	{"validations", checkValidations, false},
	{"composition", checkComposition, false},
	{"description", checkDescription, false},
	{"unknown", checkSchemaResidue, false},
}

// compareRootSchemas compares one version's openAPIV3Schema. A missing
// schema is compared as an empty one.
func compareRootSchemas(c *collector, version string, oldSchema, newSchema *apiextensionsv1.JSONSchemaProps) {
	empty := &apiextensionsv1.JSONSchemaProps{}
	if oldSchema == nil {
		oldSchema = empty
	}
	if newSchema == nil {
		newSchema = empty
	}
	compareSchemaNodes(c, &node{version: version, path: ".", side: SideSpec, old: oldSchema, new: newSchema})
}

// compareSchemaNodes runs every schema rule on n and walks into its children.
func compareSchemaNodes(c *collector, n *node) {
	retyped := typeReplaced(n.old, n.new)
	for _, r := range schemaRules {
		if r.sameType && retyped {
			continue
		}
		r.check(c, n)
	}
	if retyped {
		return // type-changed already says everything below changed
	}
	compareProperties(c, n)
	if oi, ni := itemsSchema(n.old), itemsSchema(n.new); oi != nil && ni != nil {
		child := n.at(itemsPath(n.path))
		child.old, child.new = oi, ni
		compareSchemaNodes(c, child)
	}
	if oa, na := n.old.AdditionalProperties, n.new.AdditionalProperties; oa != nil && na != nil && oa.Schema != nil && na.Schema != nil {
		child := n.at(itemsPath(n.path))
		child.old, child.new = oa.Schema, na.Schema
		compareSchemaNodes(c, child)
	}
}

// compareProperties reports removed and added properties and walks into the
// ones present in both.
func compareProperties(c *collector, n *node) {
	names := make([]string, 0, len(n.old.Properties)+len(n.new.Properties))
	for name := range n.old.Properties {
		names = append(names, name)
	}
	for name := range n.new.Properties {
		if _, ok := n.old.Properties[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		child := n.at(childPath(n.path, name))
		if n.path == "." {
			child.side = sideOf(name)
		}
		oldProp, inOld := n.old.Properties[name]
		newProp, inNew := n.new.Properties[name]
		ap := n.new.AdditionalProperties
		switch {
		case !inNew && ap != nil && ap.Schema != nil:
			// The object became a map: the old field is now a map entry,
			// judged against the map's value schema.
			child.old, child.new = &oldProp, ap.Schema
			compareSchemaNodes(c, child)
		case !inNew && ap != nil && ap.Allows:
			// The object now takes any entry: the field's values are kept
			// unvalidated. additional-properties-widened reports it.
		case !inNew && n.path == "." && implicitRootFields[name]:
			c.add(child.finding(RuleImplicitFieldRemoved, typeName(&oldProp), "",
				"field "+child.path+" left out of the schema; the API server keeps and validates it anyway"))
		case !inNew && boolPtr(n.new.XPreserveUnknownFields):
			c.add(child.finding(RuleFieldRemoved, typeName(&oldProp), "",
				"field "+child.path+" removed from the schema: its values are kept but no longer validated or defaulted"))
		case !inNew:
			c.add(child.finding(RuleFieldRemoved, typeName(&oldProp), "",
				"field "+child.path+" removed: values in it are pruned and clients using it lose data"))
		case !inOld && boolPtr(n.old.XPreserveUnknownFields):
			// Stored objects may already hold the field, with any value:
			// judge its schema as a change from "anything".
			c.add(child.finding(RuleFieldAdded, "", typeName(&newProp), "new field "+child.path+" declared under "+
				n.path+", which keeps unknown fields: its schema is judged against the values stored objects may already hold"))
			child.old, child.new = anyValueLike(&newProp), &newProp
			child.declared, child.keptBy = child.path, n.path
			compareSchemaNodes(c, child)
		case !inOld:
			c.add(child.finding(RuleFieldAdded, "", typeName(&newProp), "new field "+child.path))
		default:
			child.old, child.new = &oldProp, &newProp
			compareSchemaNodes(c, child)
		}
	}
}

// implicitRootFields are the root fields every object has whatever the
// schema says: the API server keeps and validates them itself.
var implicitRootFields = map[string]bool{"apiVersion": true, "kind": true, "metadata": true}

func itemsSchema(p *apiextensionsv1.JSONSchemaProps) *apiextensionsv1.JSONSchemaProps {
	if p.Items == nil || len(p.Items.JSONSchemas) > 0 {
		return nil
	}
	return p.Items.Schema
}

func typeName(p *apiextensionsv1.JSONSchemaProps) string {
	switch {
	case p.Type != "":
		return p.Type
	case p.XIntOrString:
		return "int-or-string"
	default:
		return "any"
	}
}

// typeIncompatible reports whether a type change is more than the
// integer to number widening.
func typeIncompatible(oldType, newType string) bool {
	return oldType != newType && !(oldType == "integer" && newType == "number")
}

// typeReplaced reports whether a declared type was replaced by an
// incompatible one. A type declared where there was none (an untyped,
// int-or-string or preserve-unknown-fields value) replaces nothing: the
// constraints and children of the new schema are still judged one by one.
func typeReplaced(o, n *apiextensionsv1.JSONSchemaProps) bool {
	return o.Type != "" && typeIncompatible(o.Type, n.Type)
}

// anyValueLike returns the schema a value had when it was kept unvalidated
// under an object with x-kubernetes-preserve-unknown-fields: any type, and
// every field of a nested object kept. It has p's shape (items and map
// values) so that the walk reaches p's item and value schemas, and p's
// documentation and default, which are not constraints on stored values.
// A bare {} or a declaration that only keeps unknown fields is then no
// change; every type, enum, limit, required field or pruning p adds is.
func anyValueLike(p *apiextensionsv1.JSONSchemaProps) *apiextensionsv1.JSONSchemaProps {
	a := &apiextensionsv1.JSONSchemaProps{
		Description: p.Description, Title: p.Title, Example: p.Example, ExternalDocs: p.ExternalDocs, Default: p.Default,
		XPreserveUnknownFields: p.XPreserveUnknownFields,
	}
	if items := itemsSchema(p); items != nil {
		a.Items = &apiextensionsv1.JSONSchemaPropsOrArray{Schema: anyValueLike(items)}
	}
	switch ap := p.AdditionalProperties; {
	case ap != nil && ap.Schema != nil:
		// A map keeps every key; its value schema is judged at [*].
		a.AdditionalProperties = &apiextensionsv1.JSONSchemaPropsOrBool{Allows: ap.Allows, Schema: anyValueLike(ap.Schema)}
	case p.Type == "object" || len(p.Properties) > 0:
		// A stored object kept every field; a declaration that does not
		// keep unknown fields prunes them.
		t := true
		a.XPreserveUnknownFields = &t
	}
	return a
}

func checkType(c *collector, n *node) {
	o, nw := n.old.Type, n.new.Type
	switch {
	case o == nw:
	case !typeIncompatible(o, nw):
		c.add(n.finding(RuleTypeWidened, o, nw, "type widened from integer to number"))
	case o == "":
		c.add(n.finding(RuleTypeChanged, "any", nw,
			"type "+nw+" declared where any value was accepted: values of another type no longer validate"))
	default:
		c.add(n.finding(RuleTypeChanged, quote(o), quote(nw),
			"type changed from "+quote(o)+" to "+quote(nw)+": existing values no longer validate"))
	}
}
