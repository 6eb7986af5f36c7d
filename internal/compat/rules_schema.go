package compat

import (
	"math"
	"reflect"
	"sort"
	"strconv"

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

func checkEnum(c *collector, n *node) {
	if len(n.old.Enum) == 0 && len(n.new.Enum) == 0 {
		return
	}
	oldValues, newValues := enumValues(n.old.Enum), enumValues(n.new.Enum)
	switch {
	case len(oldValues) == 0:
		c.add(n.finding(RuleEnumAdded, "", join(newValues),
			"enum added: the field took any value, now only "+join(newValues)))
		return
	case len(newValues) == 0:
		c.add(n.finding(RuleEnumRemoved, join(oldValues), "", "enum removed: the field takes any value"))
		return
	}
	removed, added := setDiff(oldValues, newValues)
	if len(removed) > 0 {
		c.add(n.finding(RuleEnumValueRemoved, join(removed), "",
			"enum value "+join(removed)+" removed: objects using it no longer validate"))
	}
	if len(added) > 0 {
		c.add(n.finding(RuleEnumValueAdded, "", join(added), "enum value "+join(added)+" added"))
	}
}

// enumValues returns the canonical JSON of every enum value.
func enumValues(enum []apiextensionsv1.JSON) []string {
	out := make([]string, 0, len(enum))
	for i := range enum {
		out = append(out, canonicalJSON(enum[i].Raw))
	}
	return out
}

func checkRequired(c *collector, n *node) {
	removed, added := setDiff(n.old.Required, n.new.Required)
	for _, name := range added {
		child := n.at(childPath(n.path, name))
		if n.path == "." {
			child.side = sideOf(name)
		}
		what := "field " + child.path + " is now required"
		if _, existed := n.old.Properties[name]; !existed {
			what = "new field " + child.path + " is required"
		}
		c.add(child.finding(RuleRequiredAdded, "optional", "required", what+": objects without it are rejected"))
	}
	for _, name := range removed {
		child := n.at(childPath(n.path, name))
		if n.path == "." {
			child.side = sideOf(name)
		}
		c.add(child.finding(RuleRequiredRemoved, "required", "optional", "field "+child.path+" is no longer required"))
	}
}

// limit describes one integer limit for checkLimits.
type limit struct {
	name              string
	lower             bool // a lower bound: raising it tightens
	tightened, looser string
	get               func(p *apiextensionsv1.JSONSchemaProps) *int64
}

var limits = []limit{
	{"minLength", true, RuleMinLengthTightened, RuleMinLengthLoosened, func(p *apiextensionsv1.JSONSchemaProps) *int64 { return p.MinLength }},
	{"maxLength", false, RuleMaxLengthTightened, RuleMaxLengthLoosened, func(p *apiextensionsv1.JSONSchemaProps) *int64 { return p.MaxLength }},
	{"minItems", true, RuleMinItemsTightened, RuleMinItemsLoosened, func(p *apiextensionsv1.JSONSchemaProps) *int64 { return p.MinItems }},
	{"maxItems", false, RuleMaxItemsTightened, RuleMaxItemsLoosened, func(p *apiextensionsv1.JSONSchemaProps) *int64 { return p.MaxItems }},
	{"minProperties", true, RuleMinPropertiesTightened, RuleMinPropertiesLoosened, func(p *apiextensionsv1.JSONSchemaProps) *int64 { return p.MinProperties }},
	{"maxProperties", false, RuleMaxPropertiesTightened, RuleMaxPropertiesLoosened, func(p *apiextensionsv1.JSONSchemaProps) *int64 { return p.MaxProperties }},
}

// bound is a numeric bound; a nil value means none.
type bound struct {
	value     *float64
	exclusive bool
}

func (b bound) String() string {
	if b.value == nil {
		return ""
	}
	s := strconv.FormatFloat(*b.value, 'g', -1, 64)
	if b.exclusive {
		s += " (exclusive)"
	}
	return s
}

// compareBounds returns +1 when nb is stricter than ob, -1 when it is
// looser and 0 when they are the same. lower says whether they are lower
// bounds.
func compareBounds(ob, nb bound, lower bool) int {
	switch {
	case ob.value == nil && nb.value == nil:
		return 0
	case ob.value == nil:
		return 1
	case nb.value == nil:
		return -1
	}
	o, n := *ob.value, *nb.value
	if o == n || (math.IsNaN(o) && math.IsNaN(n)) {
		switch {
		case nb.exclusive == ob.exclusive:
			return 0
		case nb.exclusive:
			return 1
		default:
			return -1
		}
	}
	if (n > o) == lower {
		return 1
	}
	return -1
}

func checkLimits(c *collector, n *node) {
	for _, l := range limits {
		if l.get(n.old) == nil && l.get(n.new) == nil {
			continue
		}
		ov, nv := intBound(l.get(n.old)), intBound(l.get(n.new))
		emitBound(c, n, l.name, l.lower, l.tightened, l.looser, ov, nv)
	}
	emitBound(c, n, "minimum", true, RuleMinimumTightened, RuleMinimumLoosened,
		bound{n.old.Minimum, n.old.ExclusiveMinimum}, bound{n.new.Minimum, n.new.ExclusiveMinimum})
	emitBound(c, n, "maximum", false, RuleMaximumTightened, RuleMaximumLoosened,
		bound{n.old.Maximum, n.old.ExclusiveMaximum}, bound{n.new.Maximum, n.new.ExclusiveMaximum})
}

func intBound(v *int64) bound {
	if v == nil {
		return bound{}
	}
	f := float64(*v)
	return bound{value: &f}
}

func emitBound(c *collector, n *node, name string, lower bool, tightened, loosened string, ob, nb bound) {
	switch compareBounds(ob, nb, lower) {
	case 1:
		what := name + " added (" + nb.String() + ")"
		if ob.value != nil {
			what = name + " tightened from " + ob.String() + " to " + nb.String()
		}
		c.add(n.finding(tightened, ob.String(), nb.String(), what+": values that were valid may be rejected"))
	case -1:
		what := name + " removed"
		if nb.value != nil {
			what = name + " loosened from " + ob.String() + " to " + nb.String()
		}
		c.add(n.finding(loosened, ob.String(), nb.String(), what))
	}
}

func checkMultipleOf(c *collector, n *node) {
	o, nw := n.old.MultipleOf, n.new.MultipleOf
	str := func(v *float64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatFloat(*v, 'g', -1, 64)
	}
	switch {
	case o == nil && nw == nil:
	case o == nil:
		c.add(n.finding(RuleMultipleOfTightened, "", str(nw), "multipleOf "+str(nw)+" added: values that were valid may be rejected"))
	case nw == nil:
		c.add(n.finding(RuleMultipleOfLoosened, str(o), "", "multipleOf removed"))
	case *o == *nw:
	case divides(*nw, *o):
		c.add(n.finding(RuleMultipleOfLoosened, str(o), str(nw), "multipleOf loosened from "+str(o)+" to "+str(nw)))
	default:
		c.add(n.finding(RuleMultipleOfTightened, str(o), str(nw),
			"multipleOf changed from "+str(o)+" to "+str(nw)+": values that were valid may be rejected"))
	}
}

// divides reports whether every multiple of m is a multiple of d.
func divides(d, m float64) bool {
	if d == 0 || math.IsNaN(d) || math.IsInf(d, 0) {
		return false
	}
	q := m / d
	return !math.IsInf(q, 0) && !math.IsNaN(q) && q == math.Trunc(q)
}

func checkUniqueItems(c *collector, n *node) {
	switch {
	case !n.old.UniqueItems && n.new.UniqueItems:
		c.add(n.finding(RuleUniqueItemsAdded, "false", "true", "uniqueItems turned on: lists with duplicates are rejected"))
	case n.old.UniqueItems && !n.new.UniqueItems:
		c.add(n.finding(RuleUniqueItemsRemoved, "true", "false", "uniqueItems turned off"))
	}
}

func checkPattern(c *collector, n *node) {
	checkStringAttr(c, n, "pattern", n.old.Pattern, n.new.Pattern, RulePatternAdded, RulePatternChanged, RulePatternRemoved,
		"regular expressions are not compared, so bindsync cannot tell whether the pattern got looser or tighter; treated as breaking")
}

func checkFormat(c *collector, n *node) {
	checkStringAttr(c, n, "format", n.old.Format, n.new.Format, RuleFormatAdded, RuleFormatChanged, RuleFormatRemoved,
		"values valid in the old format may not be valid in the new one")
}

// checkStringAttr judges a string-valued constraint: adding it tightens,
// removing it loosens, changing it is breaking for the reason given.
func checkStringAttr(c *collector, n *node, name, o, nw, added, changed, removed, whyChanged string) {
	switch {
	case o == nw:
	case o == "":
		c.add(n.finding(added, "", nw, name+" "+nw+" added: values that were valid may be rejected"))
	case nw == "":
		c.add(n.finding(removed, o, "", name+" removed"))
	default:
		c.add(n.finding(changed, o, nw, name+" changed: "+whyChanged))
	}
}

func checkNullable(c *collector, n *node) {
	switch {
	case n.old.Nullable && !n.new.Nullable:
		c.add(n.finding(RuleNullableRemoved, "true", "false", "nullable removed: null values are rejected or pruned"))
	case !n.old.Nullable && n.new.Nullable:
		c.add(n.finding(RuleNullableAdded, "false", "true", "nullable added"))
	}
}

func checkDefault(c *collector, n *node) {
	var o, nw string
	if n.old.Default != nil {
		o = canonicalJSON(n.old.Default.Raw)
	}
	if n.new.Default != nil {
		nw = canonicalJSON(n.new.Default.Raw)
	}
	switch {
	case o == nw:
	case o == "":
		c.add(n.finding(RuleDefaultAdded, "", nw, "default "+nw+" added: objects that left the field out now get a value"))
	case nw == "":
		c.add(n.finding(RuleDefaultRemoved, o, "", "default removed: objects that left the field out no longer get "+o))
	default:
		c.add(n.finding(RuleDefaultChanged, o, nw, "default changed from "+o+" to "+nw+": objects that left the field out get another value"))
	}
}

// extension is one x-kubernetes-* marker whose every change is breaking.
type extension struct {
	name string
	id   string
	get  func(p *apiextensionsv1.JSONSchemaProps) string
	why  string
}

var extensions = []extension{
	{"x-kubernetes-preserve-unknown-fields", RulePreserveUnknownFieldsChanged, func(p *apiextensionsv1.JSONSchemaProps) string {
		return boolString(p.XPreserveUnknownFields != nil && *p.XPreserveUnknownFields)
	}, "unknown fields are pruned, or kept, differently from now on"},
	{"x-kubernetes-int-or-string", RuleIntOrStringChanged, func(p *apiextensionsv1.JSONSchemaProps) string {
		return boolString(p.XIntOrString)
	}, "the accepted value types changed"},
	{"x-kubernetes-embedded-resource", RuleEmbeddedResourceChanged, func(p *apiextensionsv1.JSONSchemaProps) string {
		return boolString(p.XEmbeddedResource)
	}, "apiVersion, kind and metadata are validated differently"},
	{"x-kubernetes-list-type", RuleListTypeChanged, func(p *apiextensionsv1.JSONSchemaProps) string {
		return stringOr(p.XListType, "atomic")
	}, "server-side apply merges the list differently and may reject existing lists"},
	{"x-kubernetes-map-type", RuleMapTypeChanged, func(p *apiextensionsv1.JSONSchemaProps) string {
		return stringOr(p.XMapType, "granular")
	}, "server-side apply merges the object differently"},
}

func stringOr(p *string, unset string) string {
	if p == nil || *p == "" {
		return unset
	}
	return *p
}

func checkExtensions(c *collector, n *node) {
	for _, e := range extensions {
		if o, nw := e.get(n.old), e.get(n.new); o != nw {
			c.add(n.finding(e.id, o, nw, e.name+" changed from "+o+" to "+nw+": "+e.why))
		}
	}
}

func checkListMapKeys(c *collector, n *node) {
	removed, added := setDiff(n.old.XListMapKeys, n.new.XListMapKeys)
	if len(removed) > 0 || len(added) > 0 {
		o, nw := sortedUnique(n.old.XListMapKeys), sortedUnique(n.new.XListMapKeys)
		c.add(n.finding(RuleListMapKeysChanged, join(o), join(nw),
			"x-kubernetes-list-map-keys changed: list entries are identified by other keys"))
	}
}

// apKind classifies additionalProperties from most to least permissive.
func apKind(ap *apiextensionsv1.JSONSchemaPropsOrBool) string {
	switch {
	case ap == nil:
		return "unset"
	case ap.Schema != nil:
		return "schema"
	case ap.Allows:
		return "true"
	default:
		return "false"
	}
}

func checkAdditionalProperties(c *collector, n *node) {
	o, nw := apKind(n.old.AdditionalProperties), apKind(n.new.AdditionalProperties)
	rank := map[string]int{"unset": 0, "false": 0, "schema": 1, "true": 2}
	switch {
	case rank[o] == rank[nw]:
		// Both schemas: the walk compares them at path[*].
	case rank[nw] < rank[o]:
		c.add(n.finding(RuleAdditionalPropertiesNarrowed, o, nw,
			"additionalProperties narrowed from "+o+" to "+nw+": map entries that were valid may be pruned or rejected"))
	default:
		c.add(n.finding(RuleAdditionalPropertiesWidened, o, nw, "additionalProperties widened from "+o+" to "+nw))
	}
}

func checkValidations(c *collector, n *node) {
	if len(n.old.XValidations) == 0 && len(n.new.XValidations) == 0 {
		return
	}
	oldByRule := rulesByText(n.old.XValidations)
	newByRule := rulesByText(n.new.XValidations)
	var removed, added []apiextensionsv1.ValidationRule
	for text, o := range oldByRule {
		nw, ok := newByRule[text]
		if !ok {
			removed = append(removed, o)
			continue
		}
		switch {
		case boolPtr(o.OptionalOldSelf) != boolPtr(nw.OptionalOldSelf):
			c.add(n.finding(RuleValidationRuleChanged, ruleString(o), ruleString(nw),
				"CEL rule "+strconv.Quote(text)+" changed optionalOldSelf: transitions are judged differently"))
		case reasonOf(o) != reasonOf(nw):
			c.add(n.finding(RuleValidationRuleChanged, reasonOf(o), reasonOf(nw),
				"CEL rule "+strconv.Quote(text)+" changed its reason: clients see another error type"))
		case marshal(o) != marshal(nw):
			c.add(n.finding(RuleValidationRuleMessageChanged, o.Message, nw.Message,
				"message of CEL rule "+strconv.Quote(text)+" changed"))
		}
	}
	for text, nw := range newByRule {
		if _, ok := oldByRule[text]; !ok {
			added = append(added, nw)
		}
	}
	sort.Slice(removed, func(i, j int) bool { return removed[i].Rule < removed[j].Rule })
	sort.Slice(added, func(i, j int) bool { return added[i].Rule < added[j].Rule })
	// A rule that only applies when a field new in this change is set cannot
	// reject a stored object: none has that field.
	unguarded := added[:0]
	isNew := func(f string) bool { return c.fieldIsNew(n, f) }
	for _, r := range added {
		if fields, ok := guardedBy(r.Rule, isNew); ok {
			c.add(n.finding(RuleValidationRuleAddedGuarded, "", r.Rule, guardedMessage(n.path, fields)))
			continue
		}
		unguarded = append(unguarded, r)
	}
	added = unguarded
	// A removed and an added rule with the same message are one rule changed.
	for i := 0; i < len(added); i++ {
		for j := 0; j < len(removed); j++ {
			if added[i].Message != "" && added[i].Message == removed[j].Message {
				c.add(n.finding(RuleValidationRuleChanged, removed[j].Rule, added[i].Rule,
					"CEL rule "+strconv.Quote(added[i].Message)+" changed its text: bindsync cannot tell whether the new rule is looser or tighter, so it is treated as breaking"))
				added = append(added[:i], added[i+1:]...)
				removed = append(removed[:j], removed[j+1:]...)
				i--
				break
			}
		}
	}
	for _, r := range added {
		c.add(n.finding(RuleValidationRuleAdded, "", r.Rule, "CEL rule added: objects that were valid may be rejected"))
	}
	for _, r := range removed {
		c.add(n.finding(RuleValidationRuleRemoved, r.Rule, "", "CEL rule removed"))
	}
}

// guardedMessage explains why a guarded rule cannot reject a stored object.
func guardedMessage(path string, fields []string) string {
	paths := make([]string, len(fields))
	has := make([]string, len(fields))
	for i, f := range fields {
		paths[i], has[i] = childPath(path, f), "has(self."+f+")"
	}
	if len(fields) == 1 {
		return "CEL rule added that is true for every object where " + has[0] + " is false: " + paths[0] +
			" is new in this change, so no stored object has it and none can fail the rule"
	}
	return "CEL rule added that is true for every object where " + join(has) + " are false: " + join(paths) +
		" are new in this change, so no stored object has them and none can fail the rule"
}

func rulesByText(rules apiextensionsv1.ValidationRules) map[string]apiextensionsv1.ValidationRule {
	m := make(map[string]apiextensionsv1.ValidationRule, len(rules))
	for _, r := range rules {
		if _, dup := m[r.Rule]; !dup {
			m[r.Rule] = r
		}
	}
	return m
}

func ruleString(r apiextensionsv1.ValidationRule) string {
	return r.Rule + " (optionalOldSelf=" + boolString(boolPtr(r.OptionalOldSelf)) + ")"
}

func boolPtr(b *bool) bool { return b != nil && *b }

// reasonOf returns a rule's reason with the API server's default.
func reasonOf(r apiextensionsv1.ValidationRule) string {
	if r.Reason == nil || *r.Reason == "" {
		return string(apiextensionsv1.FieldValueInvalid)
	}
	return string(*r.Reason)
}

// checkComposition judges allOf, anyOf, oneOf and not. Their schemas
// are compared whole (as sets of canonical JSON), not walked into.
func checkComposition(c *collector, n *node) {
	if len(n.old.AllOf)+len(n.new.AllOf)+len(n.old.AnyOf)+len(n.new.AnyOf)+len(n.old.OneOf)+len(n.new.OneOf) == 0 &&
		n.old.Not == nil && n.new.Not == nil {
		return
	}
	oAll, nAll := schemaSet(n.old.AllOf), schemaSet(n.new.AllOf)
	if r, a := setDiff(oAll, nAll); len(r)+len(a) > 0 {
		emitComposition(c, n, "allOf", len(a) == 0, len(r) == 0, RuleAllOfChanged, RuleAllOfLoosened, len(oAll), len(nAll))
	}
	oAny, nAny := schemaSet(n.old.AnyOf), schemaSet(n.new.AnyOf)
	if r, a := setDiff(oAny, nAny); len(r)+len(a) > 0 {
		loosened := len(nAny) == 0 || (len(oAny) > 0 && len(r) == 0)
		tighter := len(oAny) == 0 || len(a) == 0
		emitComposition(c, n, "anyOf", loosened, tighter, RuleAnyOfChanged, RuleAnyOfLoosened, len(oAny), len(nAny))
	}
	oOne, nOne := schemaSet(n.old.OneOf), schemaSet(n.new.OneOf)
	if r, a := setDiff(oOne, nOne); len(r)+len(a) > 0 {
		emitComposition(c, n, "oneOf", len(nOne) == 0, len(oOne) == 0, RuleOneOfChanged, RuleOneOfLoosened, len(oOne), len(nOne))
	}
	var oNot, nNot []string
	if n.old.Not != nil {
		oNot = []string{marshal(n.old.Not)}
	}
	if n.new.Not != nil {
		nNot = []string{marshal(n.new.Not)}
	}
	if r, a := setDiff(oNot, nNot); len(r)+len(a) > 0 {
		emitComposition(c, n, "not", len(nNot) == 0, len(oNot) == 0, RuleNotChanged, RuleNotLoosened, len(oNot), len(nNot))
	}
}

// emitComposition reports a change of allOf, anyOf, oneOf or not: loosened
// when it can only accept more, tighter when it can only accept less, and
// otherwise changed in a way bindsync does not judge.
func emitComposition(c *collector, n *node, name string, loosened, tighter bool, changedID, loosenedID string, oldCount, newCount int) {
	o, nw := strconv.Itoa(oldCount)+" schemas", strconv.Itoa(newCount)+" schemas"
	switch {
	case loosened:
		c.add(n.finding(loosenedID, o, nw, name+" loosened"))
	case oldCount == 0:
		c.add(n.finding(changedID, o, nw, name+" added: values that were valid may be rejected"))
	case tighter:
		c.add(n.finding(changedID, o, nw, name+" tightened: values that were valid may be rejected"))
	default:
		c.add(n.finding(changedID, o, nw, name+" changed: its schemas are compared whole, so bindsync cannot tell whether it got looser or tighter; treated as breaking"))
	}
}

func schemaSet(schemas []apiextensionsv1.JSONSchemaProps) []string {
	out := make([]string, 0, len(schemas))
	for i := range schemas {
		out = append(out, marshal(&schemas[i]))
	}
	return out
}

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
