package compat

import (
	"math/rand/v2"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/stretchr/testify/require"
)

// objectsWithoutNewFields are values of self that lack the new fields p and
// parameters, for the evaluation check of guarded rules.
var objectsWithoutNewFields = []map[string]any{
	{},
	{"size": int64(1), "name": "x", "plan": "keyvalue-single-small-ssl", "items": []any{int64(1)}, "tags": []any{"a"}},
	{"size": int64(-5), "name": "", "plan": "keyvalue-replica-small-ssl", "items": []any{}, "tags": []any{}},
}

// checkGuardedHolds evaluates rule with cel-go's interpreter, self bound to
// each object without the new fields, and fails unless every evaluation is
// true without error: a guarded verdict must be sound.
func checkGuardedHolds(t *testing.T, rule string) {
	t.Helper()
	env, err := cel.NewEnv(cel.Variable("self", cel.DynType), cel.Variable("oldSelf", cel.DynType),
		cel.OptionalTypes())
	require.NoError(t, err)
	ast, iss := env.Parse(rule)
	require.NoError(t, iss.Err(), "a guarded rule must parse: %s", rule)
	prg, err := env.Program(ast)
	require.NoError(t, err)
	for _, obj := range objectsWithoutNewFields {
		out, _, err := prg.Eval(map[string]any{"self": obj, "oldSelf": obj})
		require.NoError(t, err, "rule %q on %v", rule, obj)
		require.Equal(t, types.True, out, "rule %q on %v", rule, obj)
	}
}

// FuzzGuardedBy feeds arbitrary rule text to the guard decision. It must
// never panic, and whatever it calls guarded must evaluate to true on
// objects without the new fields.
//
//	go test -run '^$' -fuzz FuzzGuardedBy -fuzztime 60s ./internal/compat/
func FuzzGuardedBy(f *testing.F) {
	for _, seed := range []string{
		`!has(self.p) || self.p.size > 0`,
		`!(has(self.parameters) && has(self.parameters.x)) || self.plan.contains('-replica-')`,
		`has(self.p) ? self.p.all(k, k != '') : true`,
		`self.size > 0 || !has(self.p)`,
		`!has(self.p) && self.size > 0 || self.size > 1`,
		`[self].exists(self, !has(self.p))`,
		`!has(self.p) || (self.x`,
		``,
	} {
		f.Add(seed)
	}
	absent := func(f string) bool { return f == "p" || f == "parameters" }
	f.Fuzz(func(t *testing.T, rule string) {
		fields, ok := guardedBy(rule, absent)
		if !ok {
			require.Empty(t, fields)
			return
		}
		require.NotEmpty(t, fields)
		for _, fld := range fields {
			require.True(t, absent(fld), "field %q", fld)
		}
		checkGuardedHolds(t, rule)
	})
}

// TestGuardedByIsSoundOnGeneratedRules builds thousands of rules from
// atoms that are false, unknown or failing on objects without the new
// fields, joined by !, &&, || and ?:, and checks every rule guardedBy calls
// guarded with cel-go's interpreter. It also checks that a fair share are
// guarded, so the check is not vacuous.
func TestGuardedByIsSoundOnGeneratedRules(t *testing.T) {
	atoms := []string{
		"has(self.p)", "has(self.parameters)", "has(self.name)", "has(self.p.q)", "has(oldSelf.p)",
		"self.size > 0", "self.missing == 1", "self.p.x == 1", "true", "false",
		"self.items.all(i, i > 0)", "[1].exists(self, !has(self.p))", "self.?p.hasValue()",
	}
	rng := rand.New(rand.NewPCG(20, 13))
	var gen func(depth int) string
	gen = func(depth int) string {
		if depth == 0 || rng.IntN(4) == 0 {
			return atoms[rng.IntN(len(atoms))]
		}
		switch rng.IntN(4) {
		case 0:
			return "!(" + gen(depth-1) + ")"
		case 1:
			return "(" + gen(depth-1) + ") && (" + gen(depth-1) + ")"
		case 2:
			return "(" + gen(depth-1) + ") || (" + gen(depth-1) + ")"
		default:
			return "(" + gen(depth-1) + ") ? (" + gen(depth-1) + ") : (" + gen(depth-1) + ")"
		}
	}
	absent := func(f string) bool { return f == "p" || f == "parameters" }
	guarded := 0
	const n = 3000
	for range n {
		rule := gen(4)
		if _, ok := guardedBy(rule, absent); ok {
			guarded++
			checkGuardedHolds(t, rule)
		}
	}
	t.Logf("%d of %d generated rules guarded", guarded, n)
	require.Greater(t, guarded, 50)
}
