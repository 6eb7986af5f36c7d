package compat

import (
	"regexp"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// A CEL rule added together with a new optional field cannot reject a stored
// object when it only applies once that field is set: no stored object has
// it. guardField recognises such rules, strictly, and fieldIsNew checks that
// the field is really new. Anything else stays validation-rule-added.

var (
	hasSelfField    = regexp.MustCompile(`^has\(\s*self\.([A-Za-z_][A-Za-z0-9_]*)\s*\)$`)
	notHasSelfField = regexp.MustCompile(`^!\s*has\(\s*self\.([A-Za-z_][A-Za-z0-9_]*)\s*\)$`)
	rawString       = regexp.MustCompile(`(^|[^A-Za-z0-9_])[rR]['"]`)
)

// guardField returns the field f when rule has, at top level, one of the
// forms
//
//	!has(self.f) || ...
//	has(self.f) ? ... : true
//	!has(self.f) ? true : ...
//
// and "" otherwise. Text it cannot scan with certainty (raw or triple-quoted
// strings, comments, unbalanced brackets) is not recognised.
func guardField(rule string) string {
	expr := trimParens(rule)
	if expr == "" || strings.Contains(expr, "//") || strings.Contains(expr, `"""`) || strings.Contains(expr, `'''`) ||
		rawString.MatchString(expr) {
		return ""
	}
	if _, ok := scanTopLevel(expr); !ok {
		return ""
	}
	if cond, then, els, ok := splitTernary(expr); ok {
		if m := hasSelfField.FindStringSubmatch(trimParens(cond)); m != nil && trimParens(els) == "true" {
			return m[1]
		}
		if m := notHasSelfField.FindStringSubmatch(trimParens(cond)); m != nil && trimParens(then) == "true" {
			return m[1]
		}
		return ""
	}
	if top, _ := scanTopLevel(expr); hasTopLevel(expr, top, '?') {
		return "" // optional syntax (self.?f) or a conditional it could not split
	}
	parts := splitOr(expr)
	if len(parts) < 2 {
		return ""
	}
	if m := notHasSelfField.FindStringSubmatch(trimParens(parts[0])); m != nil {
		return m[1]
	}
	return ""
}

// scanTopLevel returns, for each byte of expr, whether it is outside string
// literals and brackets; ok is false when strings or brackets do not close.
func scanTopLevel(expr string) (top []bool, ok bool) {
	top = make([]bool, len(expr))
	depth := 0
	var quote byte
	for i := 0; i < len(expr); i++ {
		ch := expr[i]
		switch {
		case quote != 0:
			if ch == '\\' {
				i++
			} else if ch == quote {
				quote = 0
			}
			continue
		case ch == '"' || ch == '\'':
			quote = ch
		case ch == '(' || ch == '[' || ch == '{':
			depth++
		case ch == ')' || ch == ']' || ch == '}':
			depth--
			if depth < 0 {
				return nil, false
			}
		default:
			top[i] = depth == 0
		}
	}
	return top, quote == 0 && depth == 0
}

// trimParens trims space and parentheses that enclose the whole expression.
func trimParens(expr string) string {
	expr = strings.TrimSpace(expr)
	for len(expr) >= 2 && expr[0] == '(' && expr[len(expr)-1] == ')' {
		inner := expr[1 : len(expr)-1]
		if _, ok := scanTopLevel(inner); !ok {
			return expr // "(a) || (b)": the parentheses do not enclose it all
		}
		expr = strings.TrimSpace(inner)
	}
	return expr
}

// splitTernary splits "c ? a : b" at its top-level operators. The condition
// ends at the first top-level '?', which binds loosest in CEL.
func splitTernary(expr string) (cond, then, els string, ok bool) {
	top, _ := scanTopLevel(expr)
	q := -1
	for i := range expr {
		if top[i] && expr[i] == '?' {
			q = i
			break
		}
	}
	if q < 0 {
		return "", "", "", false
	}
	nested := 0
	for i := q + 1; i < len(expr); i++ {
		if !top[i] {
			continue
		}
		switch expr[i] {
		case '?':
			nested++
		case ':':
			if nested == 0 {
				return expr[:q], expr[q+1 : i], expr[i+1:], true
			}
			nested--
		}
	}
	return "", "", "", false
}

func hasTopLevel(expr string, top []bool, ch byte) bool {
	for i := range expr {
		if top[i] && expr[i] == ch {
			return true
		}
	}
	return false
}

// splitOr splits expr at its top-level "||".
func splitOr(expr string) []string {
	top, _ := scanTopLevel(expr)
	var parts []string
	start := 0
	for i := 0; i+1 < len(expr); i++ {
		if top[i] && top[i+1] && expr[i] == '|' && expr[i+1] == '|' {
			parts = append(parts, expr[start:i])
			start = i + 2
			i++
		}
	}
	return append(parts, expr[start:])
}

// fieldIsNew reports whether property f of n is new in this change in a way
// that guarantees no stored object holds it: declared in the new schema
// only, its parent neither kept unknown fields nor was a map, and no version
// of the old CRD declared it or let objects keep it unvalidated.
func (c *collector) fieldIsNew(n *node, f string) bool {
	if n.declared != "" {
		return false
	}
	_, inNew := n.new.Properties[f]
	_, inOld := n.old.Properties[f]
	if !inNew || inOld || boolPtr(n.old.XPreserveUnknownFields) || n.old.AdditionalProperties != nil {
		return false
	}
	return !c.oldVersionsMayHold(n.path, f)
}

// oldShapes lists, over every version of the old CRD, the property paths
// declared and the paths of objects that keep unknown fields or are maps.
type oldShapes struct {
	declared, open map[string]bool
}

// oldVersionsMayHold reports whether an object stored through any version
// of the old CRD may hold property f of the object at parent.
func (c *collector) oldVersionsMayHold(parent, f string) bool {
	if c.oldCRD == nil {
		return false
	}
	if c.shapes == nil {
		c.shapes = &oldShapes{declared: map[string]bool{}, open: map[string]bool{}}
		for i := range c.oldCRD.Spec.Versions {
			if s := versionSchemaOf(&c.oldCRD.Spec.Versions[i]); s != nil {
				c.shapes.collect(".", s)
			}
		}
	}
	if c.shapes.declared[childPath(parent, f)] {
		return true
	}
	for open := range c.shapes.open {
		if open == "." || parent == open || strings.HasPrefix(parent, open+".") || strings.HasPrefix(parent, open+"[") {
			return true
		}
	}
	return false
}

func (s *oldShapes) collect(path string, p *apiextensionsv1.JSONSchemaProps) {
	if boolPtr(p.XPreserveUnknownFields) || p.AdditionalProperties != nil {
		s.open[path] = true
	}
	for name, prop := range p.Properties {
		child := childPath(path, name)
		s.declared[child] = true
		s.collect(child, &prop)
	}
	if items := itemsSchema(p); items != nil {
		s.collect(itemsPath(path), items)
	}
	if ap := p.AdditionalProperties; ap != nil && ap.Schema != nil {
		s.collect(itemsPath(path), ap.Schema)
	}
}
