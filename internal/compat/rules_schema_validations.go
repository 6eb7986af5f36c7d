package compat

import (
	"sort"
	"strconv"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

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
