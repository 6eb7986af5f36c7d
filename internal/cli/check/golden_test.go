package check_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bindsync/bindsync/internal/testutil/golden"
)

// TestCheckOutputGolden pins what an operator reads: the table with and
// without --show-all, and the JSON. The edited CRD removes a field, swaps an
// enum value, makes a field required, caps a string and adds a short name.
// Regenerate with go test ./internal/cli/check/ -update and review the diff.
func TestCheckOutputGolden(t *testing.T) {
	oldPath := filepath.Join(klutch, pgFile)
	newPath := filepath.Join("testdata", "postgresqlinstances-edited.yaml")
	cases := []struct {
		name   string
		args   []string
		golden string
	}{
		{"table", []string{"check", oldPath, newPath}, "table.txt"},
		{"table with --show-all", []string{"check", "--show-all", oldPath, newPath}, "table-show-all.txt"},
		{"json", []string{"check", "-o", "json", oldPath, newPath}, "report.json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(tc.args...)
			assert.Equal(t, 1, code, stderr)
			golden.File(t, filepath.Join("testdata", "golden", tc.golden), []byte(stdout))
		})
	}
}
