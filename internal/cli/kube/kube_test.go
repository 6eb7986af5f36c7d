package kube

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/bindsync/bindsync/internal/testutil/golden" // accepts -update like every test package
)

const twoContexts = `apiVersion: v1
kind: Config
clusters:
- name: cp
  cluster: {server: https://cp.example:6443}
- name: app
  cluster: {server: https://app.example:6443}
users:
- name: u
  user: {token: t}
contexts:
- name: cp
  context: {cluster: cp, user: u, namespace: bindsync-team-a}
- name: app
  context: {cluster: app, user: u}
current-context: cp
`

func writeKubeconfig(t *testing.T, data string) string {
	p := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(p, []byte(data), 0o600))
	return p
}

func TestLoadFollowsKubectlsRules(t *testing.T) {
	path := writeKubeconfig(t, twoContexts)
	for name, tc := range map[string]struct {
		cfg       Config
		env       string
		host, ns  string
		wantError string
	}{
		"--kubeconfig, current context":     {cfg: Config{Path: path}, host: "https://cp.example:6443", ns: "bindsync-team-a"},
		"--context picks another context":   {cfg: Config{Path: path, Context: "app"}, host: "https://app.example:6443", ns: "default"},
		"$KUBECONFIG without --kubeconfig":  {env: path, host: "https://cp.example:6443", ns: "bindsync-team-a"},
		"--kubeconfig wins over KUBECONFIG": {cfg: Config{Path: path, Context: "app"}, env: "/nonexistent", host: "https://app.example:6443", ns: "default"},
		"an unknown context is an error":    {cfg: Config{Path: path, Context: "nope"}, wantError: "nope"},
		"a missing file is named":           {cfg: Config{Path: "/nonexistent/kc"}, wantError: "/nonexistent/kc"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.env)
			t.Setenv("HOME", t.TempDir())
			l, err := tc.cfg.Load()
			if tc.wantError != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantError)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.host, l.REST.Host)
			assert.Equal(t, tc.ns, l.Namespace)
		})
	}
}

func TestPrintAndCheckFormat(t *testing.T) {
	v := map[string]any{"cluster": "team-a"}
	for format, want := range map[string]string{JSON: "{\n  \"cluster\": \"team-a\"\n}\n", YAML: "cluster: team-a\n"} {
		var b bytes.Buffer
		require.NoError(t, Print(&b, format, v))
		assert.Equal(t, want, b.String(), format)
		assert.NoError(t, CheckFormat(format))
	}
	assert.NoError(t, CheckFormat(Table))
	assert.ErrorIs(t, CheckFormat("wide"), ErrFormat)
}
