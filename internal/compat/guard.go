package compat

import (
	"sort"
	"strings"
	"sync"

	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/parser"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// A CEL rule added together with a new optional field cannot reject a stored
// object when it holds for every object that lacks the field: no stored
// object has it. guardedBy decides that on the parsed rule, whatever its
// spelling, and fieldIsNew checks that the field is really new. Anything
// else stays validation-rule-added.

// truth is what bindsync can tell about a boolean CEL expression for every
// object that lacks the new fields: it is true, it is false, or it may be
// anything, an evaluation error included.
type truth int8

const (
	truthUnknown truth = iota
	truthTrue
	truthFalse
)

func (t truth) not() truth {
	switch t {
	case truthTrue:
		return truthFalse
	case truthFalse:
		return truthTrue
	}
	return truthUnknown
}

// ruleParser parses rules with the syntax the API server accepts in
// x-kubernetes-validations: the standard macros (has, all, exists,
// exists_one, map, filter) and optional field selection. A macro it does not
// know parses as a plain call, which guardedBy treats as unknown.
var ruleParser = sync.OnceValues(func() (*parser.Parser, error) {
	return parser.NewParser(parser.Macros(parser.AllMacros...), parser.EnableOptionalSyntax(true))
})

// guardedBy reports whether rule is true for every object that lacks each
// property f of self for which absent(f) is true, and returns those of the
// properties its verdict relied on, sorted. It evaluates the parsed rule
// conservatively: has(self.f) is false when absent(f); true and false are
// themselves; !, &&, || and ?: combine those with CEL's semantics, in which
// "false && x" is false and "true || x" is true even when x is an error.
// Every other expression (a comparison, a function, a macro such as all or
// exists, has() of a nested path, which fails on a missing parent) may be
// anything. A rule that does not parse, or that comes out true without any
// property being absent (a tautology: no guard at work), is not guarded: ok
// is false.
func guardedBy(rule string, absent func(field string) bool) (fields []string, ok bool) {
	p, err := ruleParser()
	if err != nil || strings.TrimSpace(rule) == "" {
		return nil, false
	}
	tree, iss := p.Parse(common.NewTextSource(rule))
	if iss != nil && len(iss.GetErrors()) > 0 || tree == nil {
		return nil, false
	}
	e := &guardEval{absent: absent, used: map[string]bool{}}
	if e.eval(tree.Expr()) != truthTrue || len(e.used) == 0 {
		return nil, false
	}
	none := &guardEval{absent: func(string) bool { return false }, used: map[string]bool{}}
	if none.eval(tree.Expr()) == truthTrue {
		return nil, false // true whatever the object holds: no guard at work
	}
	for f := range e.used {
		fields = append(fields, f)
	}
	sort.Strings(fields)
	return fields, true
}

// guardEval evaluates the boolean structure of one rule.
type guardEval struct {
	absent func(field string) bool
	used   map[string]bool
}

func (g *guardEval) eval(e ast.Expr) truth {
	switch e.Kind() {
	case ast.LiteralKind:
		switch e.AsLiteral() {
		case types.True:
			return truthTrue
		case types.False:
			return truthFalse
		}
	case ast.SelectKind:
		return g.presence(e.AsSelect())
	case ast.CallKind:
		return g.call(e.AsCall())
	}
	return truthUnknown
}

// presence judges has(self.f): false when f is absent. The macro leaves a
// test-only selection; self is the rule's object here, as the walk never
// enters a comprehension, where a variable may shadow it.
func (g *guardEval) presence(s ast.SelectExpr) truth {
	if !s.IsTestOnly() || s.Operand().Kind() != ast.IdentKind || s.Operand().AsIdent() != "self" || !g.absent(s.FieldName()) {
		return truthUnknown
	}
	g.used[s.FieldName()] = true
	return truthFalse
}

func (g *guardEval) call(c ast.CallExpr) truth {
	if c.IsMemberFunction() {
		return truthUnknown
	}
	args := c.Args()
	switch c.FunctionName() {
	case operators.LogicalNot:
		if len(args) == 1 {
			return g.eval(args[0]).not()
		}
	case operators.LogicalAnd:
		return g.fold(args, truthFalse)
	case operators.LogicalOr:
		return g.fold(args, truthTrue)
	case operators.Conditional:
		if len(args) == 3 {
			switch g.eval(args[0]) {
			case truthTrue:
				return g.eval(args[1])
			case truthFalse:
				return g.eval(args[2])
			}
		}
	}
	return truthUnknown
}

// fold combines the operands of && (absorbing false) or || (absorbing
// true): any absorbing operand decides, whatever the others are; otherwise
// the result is the other value only when every operand is it.
func (g *guardEval) fold(args []ast.Expr, absorbing truth) truth {
	if len(args) < 2 {
		return truthUnknown
	}
	all := true
	for _, a := range args {
		switch g.eval(a) {
		case absorbing:
			return absorbing
		case truthUnknown:
			all = false
		}
	}
	if all {
		return absorbing.not()
	}
	return truthUnknown
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
