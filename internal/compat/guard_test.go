package compat

import (
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
