package check_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/cli/app"
	"github.com/bindsync/bindsync/internal/testutil/gitrepo"
)

const klutch = "../../../testdata/crds/klutch"

func run(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = app.RunAs("bindsync", args, &o, &e)
	return code, o.String(), e.String()
}

func readCRD(t *testing.T, name string) string {
	t.Helper()
	b, err := readFileB(name)
	require.NoError(t, err)
	return b
}

func readFileB(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(klutch, name))
	return string(b), err
}

// edit returns content with old replaced by new exactly once.
func edit(t *testing.T, content, old, new string) string {
	t.Helper()
	require.Equal(t, 1, strings.Count(content, old), "edit target %q must occur once", old)
	return strings.Replace(content, old, new, 1)
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	return p
}

const pgFile = "postgresqlinstances.anynines.com.yaml"

// pgBreaking removes .spec.parameters.maxConnections (field-removed).
func pgBreaking(t *testing.T) string {
	return edit(t, readCRD(t, pgFile), "                  maxConnections:\n", "                  maxConnectionsRenamed:\n")
}

// pgNonBreaking adds an enum value to .spec.expose (enum-value-added).
func pgNonBreaking(t *testing.T) string {
	return edit(t, readCRD(t, pgFile), "                - LoadBalancer\n", "                - LoadBalancer\n                - NodePort\n")
}

// jsonReport mirrors the documented JSON output.
type jsonReport struct {
	Compatible bool   `json:"compatible"`
	Breaking   int    `json:"breaking"`
	From       string `json:"from"`
	To         string `json:"to"`
	Results    []struct {
		CRD           string              `json:"crd"`
		Change        string              `json:"change"`
		Old           string              `json:"old"`
		New           string              `json:"new"`
		Paths         []string            `json:"paths"`
		PathCount     int                 `json:"pathCount"`
		Compatible    bool                `json:"compatible"`
		BreakingRules []string            `json:"breakingRules"`
		SameSchema    bool                `json:"sameSchema"`
		SchemaHash    string              `json:"schemaHash"`
		Findings      []map[string]string `json:"findings"`
	} `json:"results"`
}

func decode(t *testing.T, stdout string) jsonReport {
	t.Helper()
	var r jsonReport
	dec := json.NewDecoder(strings.NewReader(stdout))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&r), stdout)
	return r
}

func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	same := filepath.Join(klutch, pgFile)
	breaking := writeFile(t, dir, "breaking.yaml", pgBreaking(t))
	nonBreaking := writeFile(t, dir, "non-breaking.yaml", pgNonBreaking(t))

	cases := []struct {
		name       string
		args       []string
		code       int
		contains   []string
		notContain []string
	}{
		{name: "a CRD compared with itself is compatible", args: []string{"check", same, same},
			code: 0, contains: []string{"postgresqlinstances.anynines.com (modified", "\ncompatible\n"}},
		{name: "a removed field is breaking", args: []string{"check", same, breaking}, code: 1,
			contains: []string{"VERSION", "SIDE", "PATH", "RULE", "field-removed", ".spec.parameters.maxConnections", "(breaks writers)",
				"BREAKING: 1 finding in 1 of 1 CRD changes, 1 non-breaking not listed; --show-all lists them"},
			notContain: []string{"field-added"}},
		{name: "show-all lists the non-breaking findings too", args: []string{"check", "--show-all", same, breaking}, code: 1,
			contains: []string{"field-removed", "field-added", ".spec.parameters.maxConnectionsRenamed", "BREAKING: 1 finding"}},
		{name: "an added enum value is compatible", args: []string{"check", same, nonBreaking}, code: 0,
			contains:   []string{"compatible (1 non-breaking finding; --show-all lists them)"},
			notContain: []string{"enum-value-added"}},
		{name: "show-all lists an added enum value", args: []string{"check", same, nonBreaking, "--show-all"}, code: 0,
			contains: []string{"enum-value-added", ".spec.expose", "NodePort", "compatible (1 non-breaking finding)"}},
		{name: "the reverse of an added enum value is breaking", args: []string{"check", nonBreaking, same}, code: 1,
			contains: []string{"enum-value-removed", "BREAKING"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(tc.args...)
			assert.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			for _, s := range tc.contains {
				assert.Contains(t, stdout, s)
			}
			for _, s := range tc.notContain {
				assert.NotContains(t, stdout, s)
			}
			assert.Empty(t, stderr)
		})
	}
}

func TestCheckFilesJSON(t *testing.T) {
	dir := t.TempDir()
	same := filepath.Join(klutch, pgFile)
	breaking := writeFile(t, dir, "breaking.yaml", pgBreaking(t))

	code, stdout, _ := run("check", "-o", "json", same, breaking)
	require.Equal(t, 1, code)
	r := decode(t, stdout)
	assert.False(t, r.Compatible)
	assert.Equal(t, 1, r.Breaking)
	require.Len(t, r.Results, 1)
	res := r.Results[0]
	assert.Equal(t, "postgresqlinstances.anynines.com", res.CRD)
	assert.Equal(t, "modified", res.Change)
	assert.Equal(t, same, res.Old)
	assert.Equal(t, breaking, res.New)
	assert.False(t, res.Compatible)
	assert.Equal(t, []string{"field-removed"}, res.BreakingRules)
	require.Len(t, res.Findings, 2, "json carries non-breaking findings too")
	assert.Equal(t, map[string]string{
		"version":  "v1",
		"path":     ".spec.parameters.maxConnections",
		"rule":     "field-removed",
		"side":     "spec",
		"severity": "breaking",
		"old":      "number",
		"message":  "field .spec.parameters.maxConnections removed: values in it are pruned and clients using it lose data (breaks writers)",
	}, res.Findings[0])
	assert.Equal(t, "field-added", res.Findings[1]["rule"])

	code, stdout, _ = run("check", "-o", "json", same, same)
	require.Equal(t, 0, code)
	r = decode(t, stdout)
	assert.True(t, r.Compatible)
	require.Len(t, r.Results, 1)
	assert.NotNil(t, r.Results[0].Findings, "findings is [] rather than null")
	assert.Contains(t, stdout, `"findings": []`)
}

func TestCheckCannotCompare(t *testing.T) {
	dir := t.TempDir()
	crd := filepath.Join(klutch, pgFile)
	notCRD := writeFile(t, dir, "configmap.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
	badYAML := writeFile(t, dir, "bad.yaml", "apiVersion: v1\nkind: [\n")
	v1beta1 := writeFile(t, dir, "v1beta1.yaml", "apiVersion: apiextensions.k8s.io/v1beta1\nkind: CustomResourceDefinition\nmetadata:\n  name: a.b\n")
	unknown := writeFile(t, dir, "unknown.yaml", edit(t, readCRD(t, pgFile), "  scope: Namespaced\n", "  scope: Namespaced\n  scopez: Cluster\n"))

	cases := []struct {
		name   string
		args   []string
		stderr []string
	}{
		{"a missing file", []string{"check", crd, filepath.Join(dir, "missing.yaml")}, []string{"missing.yaml", "no such file"}},
		{"a file without a CRD", []string{"check", notCRD, crd}, []string{"configmap.yaml", "not a CRD file"}},
		{"YAML that does not parse", []string{"check", crd, badYAML}, []string{"bad.yaml:2", "does not parse"}},
		{"a v1beta1 CRD", []string{"check", v1beta1, crd}, []string{"v1beta1.yaml", "apiextensions.k8s.io/v1beta1", "not supported"}},
		{"a CRD with a field bindsync does not know", []string{"check", crd, unknown}, []string{"unknown.yaml", "scopez"}},
		{"one file only", []string{"check", crd}, []string{"two CRD files"}},
		{"an unknown output format", []string{"check", "-o", "yaml", crd, crd}, []string{`unknown output format "yaml"`}},
		{"--from without --repo", []string{"check", "--from", "main", crd, crd}, []string{"--from needs --repo"}},
		{"--repo with file arguments", []string{"check", "--repo", dir, "--from", "main", crd, crd}, []string{"takes no file arguments"}},
		{"--repo without --from", []string{"check", "--repo", dir}, []string{"needs --from"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := run(tc.args...)
			assert.Equal(t, 2, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
			assert.Empty(t, stdout)
			for _, s := range tc.stderr {
				assert.Contains(t, stderr, s)
			}
		})
	}
}

func TestCheckMultiDocumentFilesPairCRDsByName(t *testing.T) {
	dir := t.TempDir()
	pg, backups, restores := readCRD(t, pgFile), readCRD(t, "backups.anynines.com.yaml"), readCRD(t, "restores.anynines.com.yaml")
	oldPath := writeFile(t, dir, "old.yaml", pg+"---\n"+backups)
	newPath := writeFile(t, dir, "new.yaml", pgNonBreaking(t)+"---\n"+restores+"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")

	code, stdout, _ := run("check", "-o", "json", oldPath, newPath)
	require.Equal(t, 1, code)
	r := decode(t, stdout)
	require.Len(t, r.Results, 3)
	got := map[string]string{}
	for _, res := range r.Results {
		got[res.CRD] = res.Change
	}
	assert.Equal(t, map[string]string{
		"backups.anynines.com":             "removed",
		"postgresqlinstances.anynines.com": "modified",
		"restores.anynines.com":            "added",
	}, got)
	assert.Equal(t, 1, r.Breaking, "only the removed CRD breaks")
}

// gitRepo is a real repository on disk, written through go-git
// (internal/testutil/gitrepo).
type gitRepo struct {
	g   *gitrepo.Repo
	dir string
}

func newGitRepo(t *testing.T) *gitRepo {
	g := gitrepo.New(t)
	g.When = time.Unix(1700000000, 0)
	return &gitRepo{g: g, dir: g.Dir}
}

// commit writes files (nil content deletes) and commits; it returns the hash.
func (g *gitRepo) commit(msg string, files map[string]*string) string {
	write := map[string]string{}
	for p, content := range files {
		if content == nil {
			g.g.Remove(p)
			continue
		}
		write[p] = *content
	}
	g.g.Write(write)
	return g.g.Commit(msg, nil).String()
}

func ptr(s string) *string { return &s }

const clusters = 40

func pgPath(i int) string {
	return fmt.Sprintf("clusters/c%03d/app/crds/postgresqlinstances.anynines.com.yaml", i)
}

func TestCheckRepository(t *testing.T) {
	g := newGitRepo(t)
	first := map[string]*string{
		"clusters/c001/app/crds/backups.anynines.com.yaml": ptr(readCRD(t, "backups.anynines.com.yaml")),
		"clusters/c001/app/kustomization.yaml":             ptr("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"),
		"README.md":                                        ptr("state repository\n"),
	}
	for i := 1; i <= clusters; i++ {
		first[pgPath(i)] = ptr(readCRD(t, pgFile))
	}
	from := g.commit("bind postgresql and backups", first)

	second := map[string]*string{
		"clusters/c001/app/crds/backups.anynines.com.yaml":  nil,
		"clusters/c001/app/crds/restores.anynines.com.yaml": ptr(readCRD(t, "restores.anynines.com.yaml")),
		"clusters/c001/app/kustomization.yaml":              ptr("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: []\n"),
		"README.md":                                         ptr("state repository, changed\n"),
	}
	for i := 1; i <= clusters; i++ {
		second[pgPath(i)] = ptr(pgBreaking(t))
	}
	to := g.commit("schema change", second)

	t.Run("json reports each distinct change once with every path", func(t *testing.T) {
		code, stdout, stderr := run("check", "--repo", g.dir, "--from", from, "--to", to, "-o", "json")
		require.Equal(t, 1, code, stderr)
		r := decode(t, stdout)
		assert.Equal(t, from, r.From)
		assert.Equal(t, to, r.To)
		assert.False(t, r.Compatible)
		assert.Equal(t, 2, r.Breaking, "field-removed once (not once per cluster) and crd-removed")
		require.Len(t, r.Results, 3)

		backups, pg, restores := r.Results[0], r.Results[1], r.Results[2]
		assert.Equal(t, "backups.anynines.com", backups.CRD)
		assert.Equal(t, "removed", backups.Change)
		assert.Equal(t, []string{"crd-removed"}, backups.BreakingRules)
		assert.Equal(t, []string{"clusters/c001/app/crds/backups.anynines.com.yaml"}, backups.Paths)

		assert.Equal(t, "postgresqlinstances.anynines.com", pg.CRD)
		assert.Equal(t, "modified", pg.Change)
		assert.Equal(t, clusters, pg.PathCount)
		require.Len(t, pg.Paths, clusters)
		assert.Equal(t, pgPath(1), pg.Paths[0])
		assert.Equal(t, []string{"field-removed"}, pg.BreakingRules)

		assert.Equal(t, "restores.anynines.com", restores.CRD)
		assert.Equal(t, "added", restores.Change)
		assert.True(t, restores.Compatible)
		require.Len(t, restores.Findings, 1)
		assert.Equal(t, "crd-added", restores.Findings[0]["rule"])
	})

	t.Run("the table names the paths and the summary counts findings", func(t *testing.T) {
		code, stdout, _ := run("check", "--repo", g.dir, "--from", from, "--to", to)
		require.Equal(t, 1, code)
		assert.Contains(t, stdout, fmt.Sprintf("postgresqlinstances.anynines.com (modified at %d paths: %s, %s, %s, and %d more)",
			clusters, pgPath(1), pgPath(2), pgPath(3), clusters-3))
		assert.Contains(t, stdout, "backups.anynines.com (removed: clusters/c001/app/crds/backups.anynines.com.yaml) BREAKING: crd-removed")
		assert.Contains(t, stdout, "BREAKING: 2 findings in 2 of 3 CRD changes")
	})

	t.Run("revision expressions and the default --to work", func(t *testing.T) {
		code, stdout, _ := run("check", "--repo", g.dir, "--from", "HEAD~1", "-o", "json")
		require.Equal(t, 1, code)
		assert.Equal(t, to, decode(t, stdout).To)
	})

	t.Run("a revision compared with itself changes nothing", func(t *testing.T) {
		code, stdout, _ := run("check", "--repo", g.dir, "--from", to, "--to", to)
		assert.Equal(t, 0, code)
		assert.Contains(t, stdout, "no CRD changed\ncompatible\n")
	})

	t.Run("a bad revision cannot be compared", func(t *testing.T) {
		code, stdout, stderr := run("check", "--repo", g.dir, "--from", "no-such-rev", "--to", to)
		assert.Equal(t, 2, code)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, `"no-such-rev"`)
		assert.Contains(t, stderr, g.dir)
	})

	t.Run("a folder that is no repository cannot be compared", func(t *testing.T) {
		code, _, stderr := run("check", "--repo", t.TempDir(), "--from", "HEAD")
		assert.Equal(t, 2, code)
		assert.Contains(t, stderr, "open git repository")
	})
}

func TestCheckRepositoryNonBreakingAndBroken(t *testing.T) {
	g := newGitRepo(t)
	from := g.commit("bind", map[string]*string{"clusters/c1/app/crds/pg.yaml": ptr(readCRD(t, pgFile))})
	mid := g.commit("add an enum value", map[string]*string{"clusters/c1/app/crds/pg.yaml": ptr(pgNonBreaking(t))})
	to := g.commit("break the YAML", map[string]*string{"clusters/c1/app/crds/pg.yml": ptr("kind: [\n")})

	code, stdout, _ := run("check", "--repo", g.dir, "--from", from, "--to", mid)
	assert.Equal(t, 0, code, stdout)
	assert.Contains(t, stdout, "compatible (1 non-breaking finding; --show-all lists them)")

	code, stdout, stderr := run("check", "--repo", g.dir, "--from", mid, "--to", to)
	assert.Equal(t, 2, code, stdout)
	assert.Contains(t, stderr, "clusters/c1/app/crds/pg.yml at "+to)
	assert.Contains(t, stderr, "does not parse")
}
