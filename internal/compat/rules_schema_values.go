package compat

import (
	"math"
	"strconv"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

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
