package render_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/statedir"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// copyDir copies a folder of regular files into a new temporary folder.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	require.NoError(t, err)
	return dst
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, b := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(b), 0o644))
	}
}

// allFiles returns every file under dir, .git included, as path -> content.
func allFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.Type()&fs.ModeSymlink != 0 {
			target, err := os.Readlink(p)
			out[filepath.ToSlash(rel)] = "symlink to " + target
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	require.NoError(t, err)
	return out
}

// clusterFiles returns the files of one cluster's folder under dir.
func clusterFiles(t *testing.T, dir, cluster string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for p, b := range allFiles(t, dir) {
		if strings.HasPrefix(p, staterepo.ClusterDir(cluster)+"/") {
			out[p] = b
		}
	}
	return out
}

// editFile rewrites one input file.
func editFile(t *testing.T, path string, edit func(string) string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	after := edit(string(b))
	require.NotEqual(t, string(b), after, "the edit changes %s", path)
	require.NoError(t, os.WriteFile(path, []byte(after), 0o644))
}

// dropDocument removes the YAML document of a multi-document file that
// contains marker.
func dropDocument(marker string) func(string) string {
	return func(s string) string {
		docs := strings.Split(s, "\n---\n")
		var keep []string
		for _, d := range docs {
			if !strings.Contains(d, marker) {
				keep = append(keep, d)
			}
		}
		return strings.Join(keep, "\n---\n")
	}
}

const teamC = `apiVersion: bindsync.io/v1alpha1
kind: AppCluster
metadata:
  name: team-c
---
apiVersion: bindsync.io/v1alpha1
kind: APIServiceExportRequest
metadata:
  name: messaging
  namespace: bindsync-team-c
spec:
  templateRef:
    name: messaging
`

func TestRenderRefusesFoldersThatOverlap(t *testing.T) {
	for _, tc := range []struct {
		name string
		// in and out are relative to a temporary folder holding a copy of
		// examples/control-plane as "in".
		in, out string
		want    string
	}{
		{name: "out inside in", in: "in", out: "in/state-repo", want: "is inside the input folder"},
		{name: "out is in", in: "in", out: "in", want: "is inside the input folder"},
		{name: "out is in, spelled another way", in: "in", out: "in/crds/..", want: "is inside the input folder"},
		{name: "out inside in through a symlink", in: "in", out: "link-to-in/state-repo", want: "is inside the input folder"},
		{name: "in inside out's clusters", in: "out/clusters/in", out: "out", want: "which render owns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			src := copyDir(t, examplesIn)
			require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, tc.in)), 0o755))
			require.NoError(t, os.Rename(src, filepath.Join(root, tc.in)))
			require.NoError(t, os.Symlink(filepath.Join(root, "in"), filepath.Join(root, "link-to-in")))
			before := allFiles(t, root)

			code, _, stderr := run("render", "--in", filepath.Join(root, tc.in), "--out", filepath.Join(root, tc.out))
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, tc.want)
			assertUnchanged(t, before, allFiles(t, root), "nothing is written")
		})
	}

	t.Run("in inside out but outside clusters is fine", func(t *testing.T) {
		out := t.TempDir()
		in := filepath.Join(out, "control-plane")
		require.NoError(t, os.Rename(copyDir(t, examplesIn), in))
		code, _, stderr := run("render", "--in", in, "--out", out, "--init")
		assert.Equal(t, 0, code, stderr)
		code, _, stderr = run("render", "--in", in, "--out", out)
		assert.Equal(t, 0, code, stderr)
		assert.Contains(t, stderr, "0 added, 0 changed, 0 removed")
	})
}

func TestRenderLeavesAFleetRepositoryUntouched(t *testing.T) {
	fleet := t.TempDir()
	writeFiles(t, fleet, map[string]string{
		".git/HEAD": "ref: refs/heads/main\n",
		"README.md": "# fleet\n\nFlux bootstrap for production.\n",
		"clusters/production/flux-system/gotk-components.yaml": "kind: Namespace\n",
		"clusters/production/flux-system/gotk-sync.yaml":       "kind: Kustomization\n",
		"clusters/production/flux-system/kustomization.yaml":   "resources: [gotk-components.yaml, gotk-sync.yaml]\n",
	})
	before := allFiles(t, fleet)

	for _, flag := range []string{"", "--partial", "--check", "--init"} {
		t.Run("render "+flag, func(t *testing.T) {
			args := []string{"render", "--in", examplesIn, "--out", fleet}
			if flag != "" {
				args = append(args, flag)
			}
			code, _, stderr := run(args...)
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, "is not a bindsync state repository: it holds README.md, clusters/ and no "+staterepo.MarkerPath)
			assertUnchanged(t, before, allFiles(t, fleet), "every file of the fleet repository is left as it was")
		})
	}
	_, stderr := runOK(t, "render", "--in", examplesIn, "--out", t.TempDir())
	assert.NotContains(t, stderr, "error")
}

func TestInitMakesAFolderWithOtherFilesAStateRepository(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"LICENSE": "MIT\n", ".github/workflows/ci.yaml": "on: push\n"})

	code, _, stderr := run("render", "--in", examplesIn, "--out", dir)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "it holds .github/, LICENSE and no "+staterepo.MarkerPath)
	assert.Contains(t, stderr, "pass --init")
	assert.Equal(t, map[string]string{"LICENSE": "MIT\n", ".github/workflows/ci.yaml": "on: push\n"}, allFiles(t, dir))

	runOK(t, "render", "--in", examplesIn, "--out", dir, "--init")
	got := allFiles(t, dir)
	assert.Equal(t, "MIT\n", got["LICENSE"])
	assert.Equal(t, "on: push\n", got[".github/workflows/ci.yaml"])
	assert.Equal(t, string(staterepo.Marker()), got[staterepo.MarkerPath])
	runOK(t, "render", "--in", examplesIn, "--out", dir, "--check")
}

func TestTheFirstRenderMarksTheFolder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, dir string)
	}{
		{"a missing folder", func(t *testing.T, dir string) {}},
		{"an empty folder", func(t *testing.T, dir string) { require.NoError(t, os.Mkdir(dir, 0o755)) }},
		{"a folder with nothing but .git", func(t *testing.T, dir string) {
			writeFiles(t, dir, map[string]string{".git/HEAD": "ref: refs/heads/main\n"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			tc.prepare(t, dir)
			runOK(t, "render", "--in", examplesIn, "--out", dir)
			b, err := os.ReadFile(filepath.Join(dir, staterepo.MarkerPath))
			require.NoError(t, err, "the first render writes the marker")
			assert.Equal(t, string(staterepo.Marker()), string(b))
			own, err := statedir.Inspect(dir)
			require.NoError(t, err)
			assert.Equal(t, statedir.Marked, own)
			_, stderr := runOK(t, "render", "--in", examplesIn, "--out", dir, "--check")
			assert.Contains(t, stderr, "is up to date")
		})
	}

	t.Run("a state repository an earlier bindsync wrote", func(t *testing.T) {
		dir := copyDir(t, examplesOut)
		require.NoError(t, os.Remove(filepath.Join(dir, staterepo.MarkerPath)))
		code, stdout, _ := run("render", "--in", examplesIn, "--out", dir, "--check")
		assert.Equal(t, 1, code)
		assert.Equal(t, "+ "+staterepo.MarkerPath+"\n", stdout, "--check says only the marker is missing")

		_, stderr := runOK(t, "render", "--in", examplesIn, "--out", dir)
		assert.Contains(t, stderr, "written by an earlier bindsync")
		assert.Contains(t, stderr, "1 added, 0 changed, 0 removed")
		assert.Equal(t, allFiles(t, examplesOut), allFiles(t, dir))
	})
}

// partialCase is a state repository rendered from the examples and an input
// folder that has since gone bad.
type partialCase struct {
	in, out string
	before  map[string]string
}

func newPartialCase(t *testing.T, breakIt func(in string)) partialCase {
	t.Helper()
	c := partialCase{in: copyDir(t, examplesIn), out: filepath.Join(t.TempDir(), "state")}
	runOK(t, "render", "--in", c.in, "--out", c.out)
	c.before = allFiles(t, c.out)
	require.NotEmpty(t, clusterFiles(t, c.out, "team-a"))
	require.NotEmpty(t, clusterFiles(t, c.out, "team-b"))
	breakIt(c.in)
	return c
}

func TestProblemsWriteNothingUnlessPartial(t *testing.T) {
	for _, tc := range []struct {
		name string
		// breakIt makes the input bad and changes something for a cluster
		// the problem does not affect.
		breakIt func(t *testing.T, in string)
		problem string
		// held keep their files under --partial; moved get their new files.
		held, moved []string
	}{{
		name: "a duplicate AppCluster",
		breakIt: func(t *testing.T, in string) {
			writeFiles(t, in, map[string]string{"team-a-again.yaml": "apiVersion: bindsync.io/v1alpha1\nkind: AppCluster\nmetadata:\n  name: team-a\nspec:\n  displayName: Team A, pasted twice\n"})
			editFile(t, filepath.Join(in, "requests.yaml"), dropDocument("name: backups"))
		},
		problem: "AppCluster team-a: Duplicate",
		held:    []string{"team-a"},
		moved:   []string{"team-b"},
	}, {
		name: "a typo in a template two clusters request",
		breakIt: func(t *testing.T, in string) {
			editFile(t, filepath.Join(in, "templates.yaml"), func(s string) string {
				return strings.Replace(s, "resource: postgresqlinstances", "resource: postgresqlinstnces", 1)
			})
			writeFiles(t, in, map[string]string{"team-c.yaml": teamC})
		},
		problem: "APIServiceExportTemplate postgresql: CRDNotFound",
		held:    []string{"team-a", "team-b"},
		moved:   []string{"team-c"},
	}, {
		name: "an invalid CRD",
		breakIt: func(t *testing.T, in string) {
			editFile(t, filepath.Join(in, "crds/backups.anynines.com.yaml"), func(s string) string {
				return strings.ReplaceAll(s, "storage: true", "storage: false")
			})
			writeFiles(t, in, map[string]string{"team-c.yaml": teamC})
		},
		problem: "CustomResourceDefinition backups.anynines.com: InvalidCRD",
		held:    []string{"team-b"},
		moved:   []string{"team-c"},
	}, {
		name: "a request for a template that does not exist",
		breakIt: func(t *testing.T, in string) {
			editFile(t, filepath.Join(in, "templates.yaml"), dropDocument("name: backups"))
			writeFiles(t, in, map[string]string{"team-c.yaml": teamC})
		},
		problem: "APIServiceExportRequest bindsync-team-b/backups: TemplateNotFound",
		held:    []string{"team-b"},
		moved:   []string{"team-c"},
	}, {
		name: "an AppCluster document with an unknown field",
		breakIt: func(t *testing.T, in string) {
			editFile(t, filepath.Join(in, "clusters.yaml"), func(s string) string {
				return strings.Replace(s, "displayName: Team A production", "displayName: Team A production\n  colour: blue", 1)
			})
			writeFiles(t, in, map[string]string{"team-c.yaml": teamC})
		},
		problem: "unknown field \"colour\"",
		held:    []string{"team-a"},
		moved:   []string{"team-c"},
	}, {
		name: "a document that is no render input",
		breakIt: func(t *testing.T, in string) {
			writeFiles(t, in, map[string]string{"team-c.yaml": teamC, "stray.yaml": "apiVersion: bindsync.io/v1alpha1\nkind: AppClustr\nmetadata:\n  name: team-d\n"})
		},
		problem: "AppClustr is not a render input",
		held:    []string{"team-a", "team-b", "team-c"},
	}} {
		t.Run(tc.name+" writes nothing", func(t *testing.T) {
			c := newPartialCase(t, func(in string) { tc.breakIt(t, in) })
			code, _, stderr := run("render", "--in", c.in, "--out", c.out)
			assert.Equal(t, 1, code, stderr)
			assert.Contains(t, stderr, tc.problem)
			assert.Contains(t, stderr, "nothing written to "+c.out)
			assertUnchanged(t, c.before, allFiles(t, c.out), "not one file changes")
		})
		t.Run(tc.name+" with --partial keeps the clusters it affects", func(t *testing.T) {
			c := newPartialCase(t, func(in string) { tc.breakIt(t, in) })
			code, _, stderr := run("render", "--in", c.in, "--out", c.out, "--partial")
			assert.Equal(t, 1, code, stderr)
			assert.Contains(t, stderr, tc.problem)
			assert.Contains(t, stderr, "clusters "+strings.Join(tc.held, ", ")+" kept their last rendered files")
			for _, cl := range tc.held {
				assert.Equal(t, clusterFiles(t, c.out, cl), filesOf(c.before, cl), "%s keeps its exports, CRDs and RBAC", cl)
			}
			for _, cl := range tc.moved {
				assert.NotEqual(t, filesOf(c.before, cl), clusterFiles(t, c.out, cl), "%s gets its new render", cl)
				assert.NotEmpty(t, clusterFiles(t, c.out, cl))
			}
			code, stdout, _ := run("render", "--in", c.in, "--out", c.out, "--partial", "--check")
			assert.Equal(t, 1, code, "--check --partial still fails on the problems")
			assert.Empty(t, stdout, "but finds --out holds exactly the partial render")
		})
	}
}

// A cluster with one bad request still gets its good ones under --partial:
// the bad request keeps what it had (nothing, here), its new good request
// renders and a claim its template lost is revoked.
func TestPartialRendersTheGoodRequestsOfAClusterWithABadOne(t *testing.T) {
	c := newPartialCase(t, func(in string) {
		writeFiles(t, in, map[string]string{"team-b-more.yaml": `apiVersion: bindsync.io/v1alpha1
kind: APIServiceExportRequest
metadata:
  name: mongodb
  namespace: bindsync-team-b
spec:
  templateRef:
    name: no-such-template
---
apiVersion: bindsync.io/v1alpha1
kind: APIServiceExportRequest
metadata:
  name: messaging
  namespace: bindsync-team-b
spec:
  templateRef:
    name: messaging
`})
	})
	code, _, stderr := run("render", "--in", c.in, "--out", c.out, "--partial")
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "APIServiceExportRequest bindsync-team-b/mongodb: TemplateNotFound")
	after := clusterFiles(t, c.out, "team-b")
	exp := "clusters/team-b/control-plane/exports/messaginginstances.anynines.com.yaml"
	assert.NotContains(t, filesOf(c.before, "team-b"), exp)
	assert.Contains(t, after, exp, "the good request of the cluster with a bad one renders")
	assert.Contains(t, after["clusters/team-b/control-plane/rbac.yaml"], "messaginginstances")
	assert.Contains(t, after["clusters/team-b/control-plane/kustomization.yaml"], "exports/messaginginstances.anynines.com.yaml")
}

// assertUnchanged names the files that differ rather than printing them.
func assertUnchanged(t *testing.T, before, after map[string]string, msg string) {
	t.Helper()
	var changed []string
	for p, b := range after {
		if old, ok := before[p]; !ok || old != b {
			changed = append(changed, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			changed = append(changed, p+" (removed)")
		}
	}
	sort.Strings(changed)
	assert.Empty(t, changed, msg)
}

func filesOf(files map[string]string, cluster string) map[string]string {
	out := map[string]string{}
	for p, b := range files {
		if strings.HasPrefix(p, staterepo.ClusterDir(cluster)+"/") {
			out[p] = b
		}
	}
	return out
}

func runOK(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := run(args...)
	require.Equal(t, 0, code, "%s\n%s%s", strings.Join(args, " "), stdout, stderr)
	return stdout, stderr
}

// A revocation the state repository records is kept by render, which binds
// nothing it revokes; deleting the file lifts it.
func TestRenderKeepsTheRevocationsOfItsStateRepository(t *testing.T) {
	dir := copyDir(t, examplesOut)
	revoked := filepath.Join(dir, filepath.FromSlash(staterepo.RevokedPath("team-b", "backups")))
	require.NoError(t, os.MkdirAll(filepath.Dir(revoked), 0o755))
	require.NoError(t, os.WriteFile(revoked, []byte("revoked\n"), 0o644))

	code, _, stderr := run("render", "--in", examplesIn, "--out", dir, "--partial")
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "APIServiceExportRequest bindsync-team-b/backups: Rejected")
	files := clusterFiles(t, dir, "team-b")
	assert.Contains(t, files, staterepo.RevokedPath("team-b", "backups"), "the revocation stays")
	assert.NotContains(t, files, staterepo.ExportPath("team-b", "backups.anynines.com"), "the revoked template is unbound")
	assert.Contains(t, files, staterepo.ExportPath("team-b", "postgresqlinstances.anynines.com"), "the cluster's other templates stay")

	require.NoError(t, os.Remove(revoked))
	runOK(t, "render", "--in", examplesIn, "--out", dir)
	assert.Equal(t, allFiles(t, examplesOut), allFiles(t, dir), "lifted: the render is the example again")
}
