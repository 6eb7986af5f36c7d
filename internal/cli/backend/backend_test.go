package backend_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	backendcmd "github.com/bindsync/bindsync/internal/cli/backend"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // defines -update for go test ./... -update
)

// kubeconfig is a well-formed kubeconfig of a server nothing listens on:
// reading it succeeds, and every case below fails before connecting.
const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: cp
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: admin
  user: {token: "x"}
contexts:
- name: cp
  context: {cluster: cp, user: admin}
current-context: cp
`

// TestBackendFlagErrors: every bad flag is refused before the backend
// connects anywhere, with exit code 2 and an error naming the flag and
// the problem.
func TestBackendFlagErrors(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "cp.kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(kubeconfig), 0o600))
	aFile := filepath.Join(dir, "a-file")
	require.NoError(t, os.WriteFile(aFile, []byte("x"), 0o600))
	junkKey := filepath.Join(dir, "junk.key")
	require.NoError(t, os.WriteFile(junkKey, []byte("not a key"), 0o600))
	password := filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(password, []byte("s3cret\n"), 0o600))
	data := filepath.Join(dir, "data")
	missing := filepath.Join(dir, "missing")

	cases := []struct {
		name string
		args []string
		env  map[string]string
		want []string // substrings of the error
	}{
		{name: "a password in --repo", args: []string{"--kubeconfig", kc, "--data-dir", data, "--repo", "https://bindsync:s3cret@git.example.com/state.git"},
			want: []string{"--repo", "https://git.example.com/state.git", "carries credentials", "--git-password-file"}},
		{name: "a token as the user of an https --repo", args: []string{"--kubeconfig", kc, "--data-dir", data, "--repo", "https://ghp_s3cret@git.example.com/state.git"},
			want: []string{"--repo", "https://git.example.com/state.git", "carries credentials", "--git-bearer-token-file"}},
		{name: "a password in an ssh --repo", args: []string{"--kubeconfig", kc, "--data-dir", data, "--repo", "ssh://git:s3cret@example.com/state.git"},
			want: []string{"--repo", "carries credentials", "--git-ssh-key-file"}},
		{name: "--data-dir is a file", args: []string{"--kubeconfig", kc, "--data-dir", aFile},
			want: []string{"--data-dir " + aFile, "is a file, not a folder"}},
		{name: "--data-dir cannot be created", args: []string{"--kubeconfig", kc, "--data-dir", filepath.Join(aFile, "sub")},
			want: []string{"--data-dir " + filepath.Join(aFile, "sub"), "open the state repository"}},
		{name: "--kubeconfig names a missing file", args: []string{"--kubeconfig", missing, "--data-dir", data},
			want: []string{"--kubeconfig " + missing}},
		{name: "no kubeconfig at all", args: []string{"--data-dir", data},
			env:  map[string]string{"KUBECONFIG": "", "HOME": dir, "KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": ""},
			want: []string{"no kubeconfig", "--kubeconfig", "$KUBECONFIG"}},
		{name: "an ssh:// --repo without a key file", args: []string{"--kubeconfig", kc, "--data-dir", data, "--repo", "ssh://git@example.com/state.git"},
			want: []string{"--repo", "ssh://git@example.com/state.git is an ssh remote without an ssh key file", "--git-ssh-key-file"}},
		{name: "an ssh:// --repo without known_hosts", args: []string{"--kubeconfig", kc, "--data-dir", data,
			"--repo", "ssh://git@example.com/state.git", "--git-ssh-key-file", junkKey},
			want: []string{"ssh://git@example.com/state.git", "needs a known_hosts file (--git-known-hosts-file)"}},
		{name: "a password file without a username", args: []string{"--kubeconfig", kc, "--data-dir", data,
			"--repo", "https://git.example.com/state.git", "--git-password-file", password},
			want: []string{"--git-password-file given for https://git.example.com/state.git without --git-username"}},
		{name: "a password file that does not exist", args: []string{"--kubeconfig", kc, "--data-dir", data,
			"--repo", "https://git.example.com/state.git", "--git-username", "bindsync", "--git-password-file", missing},
			want: []string{"--git-password-file " + missing, "no such file"}},
		{name: "credentials without --repo", args: []string{"--kubeconfig", kc, "--data-dir", data, "--git-password-file", password},
			want: []string{"--git-password-file given without --repo"}},
		{name: "a --repo that is not a URL", args: []string{"--kubeconfig", kc, "--data-dir", data, "--repo", "state.git"},
			want: []string{`--repo "state.git" is not a URL`}},
		{name: "a --repo of an unknown scheme", args: []string{"--kubeconfig", kc, "--data-dir", data, "--repo", "ftp://example.com/state.git"},
			want: []string{"--repo", `scheme "ftp"`}},
		{name: "an unknown --signing-key-format", args: []string{"--kubeconfig", kc, "--data-dir", data,
			"--signing-key-file", junkKey, "--signing-key-format", "x509"},
			want: []string{`--signing-key-format "x509" is not ssh or openpgp`}},
		{name: "a --signing-key-file that is not an ssh key", args: []string{"--kubeconfig", kc, "--data-dir", data,
			"--signing-key-file", junkKey},
			want: []string{"--signing-key-file " + junkKey, "--signing-key-format ssh"}},
		{name: "a --signing-key-file that is not an OpenPGP key", args: []string{"--kubeconfig", kc, "--data-dir", data,
			"--signing-key-file", junkKey, "--signing-key-format", "openpgp"},
			want: []string{"--signing-key-file " + junkKey, "--signing-key-format openpgp"}},
		{name: "a renew deadline not shorter than the lease", args: []string{"--kubeconfig", kc, "--data-dir", data, "--leader-elect=true",
			"--leader-election-lease-duration", "10s", "--leader-election-renew-deadline", "10s"},
			want: []string{"--leader-election-renew-deadline (10s) < --leader-election-lease-duration (10s)"}},
		{name: "a --memory-limit that is not a quantity", args: []string{"--kubeconfig", kc, "--data-dir", data, "--memory-limit", "lots"},
			want: []string{`--memory-limit "lots" is not a quantity`}},
		{name: "a --log-level it does not take", args: []string{"--kubeconfig", kc, "--data-dir", data, "--log-level", "loud"},
			want: []string{`--log-level "loud": want debug, info, error or a positive number`}},
		{name: "a --log-format it does not take", args: []string{"--kubeconfig", kc, "--data-dir", data, "--log-format", "text"},
			want: []string{`--log-format "text": want json or console`}},
		{name: "a missing --signing-key-file", args: []string{"--kubeconfig", kc, "--data-dir", data,
			"--signing-key-file", missing},
			want: []string{"--signing-key-file " + missing}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stderr bytes.Buffer
			cmd := backendcmd.NewCommand(io.Discard, &stderr)
			cmd.SetArgs(append([]string{"--leader-elect=false", "--metrics-bind-address", "0", "--health-probe-bind-address", "0"}, tc.args...))
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // a case that gets past the flags stops at once instead of running
			err := cmd.ExecuteContext(ctx)

			require.Error(t, err)
			var code *exitcode.Error
			require.True(t, errors.As(err, &code), "%v", err)
			assert.Equal(t, exitcode.Unusable, code.Code)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "s3cret", "a secret never reaches a message")
			assert.NotContains(t, stderr.String(), "s3cret", "a secret never reaches the log")
			assert.NoDirExists(t, data, "nothing is created for bad flags")
		})
	}
}
