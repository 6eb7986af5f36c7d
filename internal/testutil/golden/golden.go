// Package golden holds the -update flag shared by every bindsync test
// package, so `go test ./... -update` regenerates all golden files. Each test
// package imports this package (blank-importing it when it has no golden
// files) so that the flag is defined in every test binary.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Update is true when the tests run with -update: golden files are rewritten
// from what the code produces now, and the diff is for a human to review.
var Update = flag.Bool("update", false, "rewrite golden files with the current output")

// File compares got with the golden file at path, or rewrites it under -update.
func File(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file missing: run go test ./... -update")
	assert.Equal(t, string(want), string(got), "%s is stale: run go test ./... -update and review the diff", path)
}
