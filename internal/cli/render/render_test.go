package render_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/cli/app"
	"github.com/bindsync/bindsync/internal/statedir"
	"github.com/bindsync/bindsync/internal/staterepo"
	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

const (
	examplesIn  = "../../../examples/control-plane"
	examplesOut = "../../../examples/state-repo"
	badInputs   = "../../../testdata/render/bad-inputs/input"
)

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = app.RunAs("bindsync", args, &o, &e)
	return code, o.String(), e.String()
}

func TestRenderReproducesTheExampleStateRepoByteForByte(t *testing.T) {
	out := t.TempDir()
	for i := range 2 {
		code, _, stderr := run("render", "--in", examplesIn, "--out", out)
		require.Equal(t, 0, code, stderr)
		if i == 1 {
			assert.Contains(t, stderr, "0 added, 0 changed, 0 removed", "a second render changes nothing")
		}
	}
	want, err := statedir.Read(examplesOut)
	require.NoError(t, err)
	got, err := statedir.Read(out)
	require.NoError(t, err)
	c := statedir.Diff(want, got)
	assert.True(t, c.Empty(), "examples/state-repo is stale: run bindsync render --in examples/control-plane --out examples/state-repo (%+v)", c)
}

func TestCheckPassesOnTheExampleStateRepo(t *testing.T) {
	code, stdout, stderr := run("render", "--in", examplesIn, "--out", examplesOut, "--check")
	assert.Equal(t, 0, code, "examples/state-repo is stale:\n%s%s", stdout, stderr)
}

func TestCheckReportsAStaleTree(t *testing.T) {
	out := t.TempDir()
	code, _, stderr := run("render", "--in", examplesIn, "--out", out)
	require.Equal(t, 0, code, stderr)
	rbac := filepath.Join(out, "clusters/team-a/control-plane/rbac.yaml")
	require.NoError(t, os.WriteFile(rbac, []byte("edited by hand\n"), 0o644))
	require.NoError(t, os.RemoveAll(filepath.Join(out, "clusters/team-b")))
	require.NoError(t, os.WriteFile(filepath.Join(out, "clusters/stray.yaml"), []byte("x: 1\n"), 0o644))

	code, stdout, stderr := run("render", "--in", examplesIn, "--out", out, "--check")
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, "~ clusters/team-a/control-plane/rbac.yaml")
	assert.Contains(t, stdout, "+ clusters/team-b/app/kustomization.yaml")
	assert.Contains(t, stdout, "- clusters/stray.yaml")
	assert.Contains(t, stderr, "is stale")
	b, err := os.ReadFile(rbac)
	require.NoError(t, err)
	assert.Equal(t, "edited by hand\n", string(b), "--check writes nothing")
}

func TestBadObjectsExitOneWithOneLineEach(t *testing.T) {
	for _, partial := range []bool{false, true} {
		t.Run(map[bool]string{false: "without --partial nothing is written", true: "with --partial the clusters they affect keep what they had"}[partial], func(t *testing.T) {
			out := t.TempDir()
			args := []string{"render", "--in", badInputs, "--out", out}
			if partial {
				args = append(args, "--partial")
			}
			code, _, stderr := run(args...)
			assert.Equal(t, 1, code)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			var errs []string
			for _, l := range lines {
				if strings.HasPrefix(l, "error: ") {
					errs = append(errs, l)
				}
			}
			assert.Len(t, errs, 14, "one line per problem:\n%s", stderr)
			for _, want := range []string{
				"AppCluster ../x: InvalidClusterName",
				"AppCluster A_B: InvalidClusterName",
				"APIServiceExportRequest bindsync-good/unknown: TemplateNotFound: template \"no-such-template\" does not exist",
				"APIServiceExportTemplate mongodb: CRDNotFound",
				"APIServiceExportRequest bindsync-good/everything: ConflictingRequest",
			} {
				assert.Contains(t, stderr, want)
			}
			got, err := statedir.Read(out)
			require.NoError(t, err)
			if !partial {
				assert.Empty(t, got, "nothing is written")
				return
			}
			assert.Contains(t, stderr, "clusters good, nobody kept their last rendered files")
			paths := got.Paths()
			assert.Contains(t, paths, staterepo.ExportPath("good", "postgresqlinstances.anynines.com"),
				"cluster good has bad requests, and its good one renders")
			for _, p := range paths {
				assert.NotContains(t, p, "x/", "no folder for ../x")
			}
		})
	}
}

func TestUnusableInputExitsTwo(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(
		"apiVersion: bindsync.io/v1alpha1\nkind: AppCluster\nmetadata:\n  name: ok\n---\n# second\napiVersion: v1\nkind: AppCluster\nmetadata:\n  name: [unclosed\n"), 0o644))

	code, _, stderr := run("render", "--in", dir, "--out", t.TempDir())
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, filepath.Join(dir, "a.yaml")+":10:", "the error names the file and the line in the file:\n%s", stderr)

	code, _, stderr = run("render", "--in", filepath.Join(dir, "missing"), "--out", t.TempDir())
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "missing")

	code, _, _ = run("render", "--out", t.TempDir())
	assert.Equal(t, 2, code, "--in is required")
}

func TestUnknownKindsAndFieldsAreProblemsNamingFileAndLine(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\napiVersion: bindsync.io/v1alpha1\nkind: AppCluster\nmetadata:\n  name: c1\nspec:\n  colour: blue\n"), 0o644))
	code, _, stderr := run("render", "--in", dir, "--out", t.TempDir())
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "a.yaml:1: v1 ConfigMap is not a render input")
	assert.Contains(t, stderr, "a.yaml:6: AppCluster")
	assert.Contains(t, stderr, "colour")
}

func TestAnInputWithNothingToRenderRemovesNothing(t *testing.T) {
	out := t.TempDir()
	code, _, stderr := run("render", "--in", examplesIn, "--out", out)
	require.Equal(t, 0, code, stderr)

	empty := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(empty, "notes.yaml"), []byte("# nothing here\n"), 0o644))
	code, _, stderr = run("render", "--in", empty, "--out", out)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "no render input under "+empty)
	_, err := os.Stat(filepath.Join(out, "clusters/team-a/app/kustomization.yaml"))
	assert.NoError(t, err, "a wrong --in must not empty the state repository")
}
