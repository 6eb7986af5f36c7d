package v1alpha1_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEveryConditionAndReasonIsDocumented keeps docs/conditions.md, the
// table users read to learn what a condition means and what to do, equal to
// the constants in conditions.go: a new reason without a row fails, and so
// does a row for a reason that no longer exists.
func TestEveryConditionAndReasonIsDocumented(t *testing.T) {
	consts := conditionConstants(t, "conditions.go")
	rows := documentedNames(t, filepath.Join("..", "..", "docs", "conditions.md"))

	for _, tc := range []struct {
		name, suffix, section string
	}{
		{"condition types", "Condition", "Condition types"},
		{"reasons", "Reason", "Reasons"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for name, value := range consts {
				if strings.HasSuffix(name, tc.suffix) {
					want = append(want, value)
				}
			}
			sort.Strings(want)
			require.NotEmpty(t, want, "conditions.go declares %s", tc.name)
			got := rows[tc.section]
			for _, v := range want {
				assert.Contains(t, got, v, "%q (conditions.go) has no row under %q in docs/conditions.md", v, tc.section)
			}
			for _, v := range got {
				assert.Contains(t, want, v, "docs/conditions.md documents %q under %q, which conditions.go does not declare", v, tc.section)
			}
		})
	}
}

// conditionConstants returns the string constants of a Go file by name,
// read with go/ast so that the test sees exactly what the file declares.
func conditionConstants(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	require.NoError(t, err)
	out := map[string]string{}
	for _, decl := range f.Decls {
		gen, ok := decl.(*ast.GenDecl)
		if !ok || gen.Tok != token.CONST {
			continue
		}
		for _, spec := range gen.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue
				}
				value, err := strconv.Unquote(lit.Value)
				require.NoError(t, err)
				out[name.Name] = value
			}
		}
	}
	return out
}

// documentedNames returns, per "## " section of a Markdown file, the
// backquoted names in the first cell of each table row.
func documentedNames(t *testing.T, path string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	firstCell := regexp.MustCompile("^\\|\\s*`([A-Za-z]+)`\\s*\\|")
	out := map[string][]string{}
	section := ""
	for _, line := range strings.Split(string(data), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = strings.TrimSpace(h)
			continue
		}
		if m := firstCell.FindStringSubmatch(line); m != nil {
			out[section] = append(out[section], m[1])
		}
	}
	return out
}
