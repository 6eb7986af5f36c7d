package app_test

import (
	"bytes"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/cli/app"
	"github.com/bindsync/bindsync/internal/cli/version"
	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

func runAs(program string, args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = app.RunAs(program, args, &o, &e)
	return code, o.String(), e.String()
}

func TestTheProgramNamesItselfAsItWasStarted(t *testing.T) {
	for _, tc := range []struct {
		program, name string
	}{
		{"bindsync", "bindsync"},
		{"/usr/local/bin/bindsync", "bindsync"},
		{"/home/me/.krew/bin/kubectl-bindsync", "kubectl bindsync"},
		{`C:\tools\kubectl-bindsync.exe`, "kubectl bindsync"},
	} {
		t.Run(tc.program, func(t *testing.T) {
			code, _, stderr := runAs(tc.program, "render")
			assert.Equal(t, 2, code)
			assert.True(t, strings.HasPrefix(stderr, tc.name+": missing the input folder"), "errors start with the name: %q", stderr)

			code, stdout, _ := runAs(tc.program, "--help")
			require.Equal(t, 0, code)
			assert.Contains(t, stdout, "\n  "+tc.name+" [command]\n")

			code, stdout, _ = runAs(tc.program, "render", "--help")
			require.Equal(t, 0, code)
			assert.Contains(t, stdout, "\n  "+tc.name+" render [DIR] --out DIR")

			code, _, stderr = runAs(tc.program, "no-such-command")
			assert.Equal(t, 2, code)
			assert.True(t, strings.HasPrefix(stderr, tc.name+": unknown command \"no-such-command\" for \""+tc.name+"\""), "%q", stderr)

			code, stdout, _ = runAs(tc.program, "check", "--help")
			require.Equal(t, 0, code)
			assert.Contains(t, stdout, "\n  "+tc.name+" check old/postgresql.yaml new/postgresql.yaml\n", "examples use the name too")

			code, stdout, _ = runAs(tc.program, "version")
			require.Equal(t, 0, code)
			assert.True(t, strings.HasPrefix(stdout, tc.name+" "), "%q", stdout)
		})
	}
}

func TestVersion(t *testing.T) {
	code, stdout, stderr := runAs("bindsync", "version")
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	require.Len(t, lines, 3, stdout)
	want := version.Get()
	assert.Equal(t, "bindsync "+want.Version, lines[0])
	assert.Equal(t, "commit: "+want.Commit, lines[1])
	assert.Equal(t, "go: "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH, lines[2])

	code, stdout, stderr = runAs("bindsync", "version", "-o", "json")
	require.Equal(t, 0, code, stderr)
	var got version.Info
	require.NoError(t, json.Unmarshal([]byte(stdout), &got), stdout)
	assert.Equal(t, want, got)
	assert.NotEmpty(t, got.Version)
	assert.NotEmpty(t, got.Commit)
	assert.Equal(t, runtime.Version(), got.GoVersion)

	code, _, stderr = runAs("bindsync", "version", "-o", "yaml")
	assert.Equal(t, 2, code)
	assert.Equal(t, "bindsync: unknown output format \"yaml\": use text or json\n", stderr)
}

// TestJourneyCommandsAreListedWithTheirExitCodes: every command of the
// journey is a command word, and bind documents its exit codes in --help.
func TestJourneyCommandsAreListedWithTheirExitCodes(t *testing.T) {
	code, stdout, _ := runAs("bindsync", "--help")
	require.Equal(t, 0, code)
	for _, word := range []string{"cluster", "bind", "unbind", "approve", "log", "status", "version"} {
		assert.Regexp(t, `(?m)^  `+word+` `, stdout, word)
	}
	code, stdout, _ = runAs("kubectl-bindsync", "bind", "--help")
	require.Equal(t, 0, code)
	for _, line := range []string{"4  TemplateNotFound", "5  approval timed out", "6  rejected", "7  agent not running", "kubectl bindsync bind postgresql"} {
		assert.Contains(t, stdout, line)
	}
	code, stdout, _ = runAs("bindsync", "cluster", "add", "--help")
	require.Equal(t, 0, code)
	for _, flag := range []string{"--kubeconfig", "--context", "--token-ttl", "--output", "--timeout"} {
		assert.Contains(t, stdout, flag)
	}
}

// TestJourneyCommandsRefuseBadInputWithExitCode2 checks flags before any
// cluster or repository is contacted.
func TestJourneyCommandsRefuseBadInputWithExitCode2(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"cluster add needs a name":                 {[]string{"cluster", "add"}, "accepts 1 arg"},
		"cluster add refuses a bad name":           {[]string{"cluster", "add", "Team_A"}, `cluster name "Team_A"`},
		"cluster add refuses a too short token":    {[]string{"cluster", "add", "a", "--token-ttl", "1m"}, "--token-ttl"},
		"bind refuses a bad deletion policy":       {[]string{"bind", "pg", "--deletion-policy", "Keep"}, "--deletion-policy"},
		"bind refuses an unknown output":           {[]string{"bind", "pg", "-o", "table"}, "use json, yaml, wide or name"},
		"bind refuses a bad template name":         {[]string{"bind", "PG!"}, `template name "PG!"`},
		"approve refuses a branch not bindsync's":  {[]string{"approve", "main", "--repo", "."}, "refusing to merge"},
		"approve needs a repo":                     {[]string{"approve", "bindsync/approve/a/b", "--approver", "A <a@b.c>"}, "--repo is required"},
		"log refuses an unknown output":            {[]string{"log", "--repo", ".", "-o", "wide"}, "json or yaml"},
		"status refuses an unknown output":         {[]string{"status", "-o", "table"}, "use json, yaml, wide or name"},
		"unbind refuses a bad name":                {[]string{"unbind", "No Such"}, `request name "No Such"`},
		"status with a missing kubeconfig says so": {[]string{"status", "--kubeconfig", "/nonexistent/kc"}, "/nonexistent/kc"},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runAs("bindsync", tc.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
		})
	}
}
