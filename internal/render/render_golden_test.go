package render_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/manifest"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/statedir"
	"github.com/bindsync/bindsync/internal/testutil/golden"
)

const goldenRoot = "../../testdata/render"

// TestGolden renders every case under testdata/render/<case>/input and
// compares the tree with <case>/tree and the problems and warnings with
// <case>/problems.golden. `go test ./... -update` rewrites both.
func TestGolden(t *testing.T) {
	cases, err := os.ReadDir(goldenRoot)
	require.NoError(t, err)
	require.NotEmpty(t, cases)
	for _, c := range cases {
		if !c.IsDir() {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			dir := filepath.Join(goldenRoot, c.Name())
			in, docProblems, err := manifest.LoadDir(filepath.Join(dir, "input"))
			require.NoError(t, err)
			require.Empty(t, docProblems)

			out := render.Render(in)
			golden.File(t, filepath.Join(dir, "problems.golden"), []byte(problemsText(out)))

			treeDir := filepath.Join(dir, "tree")
			if *golden.Update {
				_, err := statedir.Write(out.Tree, treeDir)
				require.NoError(t, err)
				return
			}
			have, err := statedir.Read(treeDir)
			require.NoError(t, err)
			changes := statedir.Diff(out.Tree, have)
			assert.True(t, changes.Empty(), "%s is stale (run go test ./... -update): %+v", treeDir, changes)
		})
	}
}

func problemsText(out render.Output) string {
	var b strings.Builder
	for _, p := range out.Problems {
		fmt.Fprintf(&b, "error: %s\n", p)
	}
	for _, p := range out.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", p)
	}
	for _, r := range out.Requests {
		var exports []string
		for _, e := range r.Exports {
			exports = append(exports, e.Name+"@"+e.SchemaHash[:12])
		}
		fmt.Fprintf(&b, "request %s/%s cluster=%q template=%q rendered=%t exports=[%s]\n",
			r.Namespace, r.Name, r.Cluster, r.Template, r.Rendered, strings.Join(exports, " "))
	}
	return b.String()
}
