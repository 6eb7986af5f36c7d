package gitflags_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	agentcmd "github.com/bindsync/bindsync/internal/cli/agent"
	"github.com/bindsync/bindsync/internal/cli/approve"
	backendcmd "github.com/bindsync/bindsync/internal/cli/backend"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	logcmd "github.com/bindsync/bindsync/internal/cli/log"
)

// kubeconfig names a server nothing listens on: every case below is refused
// before anything connects.
const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: "x"}
contexts:
- name: c
  context: {cluster: c, user: u}
current-context: c
`

// TestEveryCommandRefusesTheSameBadCredentials: backend, agent, approve and
// log check their --git-* flags against --repo in the one place
// (gitflags.CheckAuth, git.Auth.Check) and refuse the same bad combination
// with the same error, naming the flags and the repository, before they
// connect anywhere. The agent used to ignore credentials for a file://
// repository without a word.
func TestEveryCommandRefusesTheSameBadCredentials(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(kubeconfig), 0o600))
	file := func(name string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("s3cret\n"), 0o600))
		return p
	}
	password, token, key, knownHosts := file("password"), file("token"), file("id"), file("known_hosts")
	bare := filepath.Join(dir, "state.git")
	out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput()
	require.NoError(t, err, "%s", out)
	data := filepath.Join(dir, "data")

	commands := map[string]struct {
		newCmd func(stdout, stderr *bytes.Buffer) *cobra.Command
		args   []string
	}{
		"backend": {func(o, e *bytes.Buffer) *cobra.Command { return backendcmd.NewCommand(o, e) },
			[]string{"--kubeconfig", kc, "--data-dir", data, "--leader-elect=false", "--metrics-bind-address", "0", "--health-probe-bind-address", "0"}},
		"agent": {func(o, e *bytes.Buffer) *cobra.Command { return agentcmd.NewCommand(o, e) },
			[]string{"--kubeconfig", kc, "--cluster", "c1", "--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--sync-instances=false"}},
		"approve": {func(o, e *bytes.Buffer) *cobra.Command { return approve.NewCommand(o, e) },
			[]string{"bindsync/approve/c1", "--approver", "Pat <pat@example.com>"}},
		"log": {func(o, e *bytes.Buffer) *cobra.Command { return logcmd.NewCommand(o, e) }, nil},
	}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{name: "a password for a file:// repository",
			args: []string{"--repo", "file://" + bare, "--git-username", "bindsync", "--git-password-file", password},
			want: []string{"--git-username, --git-password-file given for the local repository file://" + bare, "needs no credentials"}},
		{name: "an ssh key for a file:// repository",
			args: []string{"--repo", "file://" + bare, "--git-ssh-key-file", key, "--git-known-hosts-file", knownHosts},
			want: []string{"--git-ssh-key-file, --git-known-hosts-file given for the local repository file://" + bare}},
		{name: "an ssh key for an https repository",
			args: []string{"--repo", "https://git.example.invalid/state.git", "--git-ssh-key-file", key, "--git-known-hosts-file", knownHosts},
			want: []string{"--git-ssh-key-file, --git-known-hosts-file given for the https:// remote https://git.example.invalid/state.git"}},
		{name: "a password and a bearer token",
			args: []string{"--repo", "https://git.example.invalid/state.git", "--git-username", "bindsync", "--git-password-file", password, "--git-bearer-token-file", token},
			want: []string{"--git-username, --git-password-file, --git-bearer-token-file given for https://git.example.invalid/state.git", "choose one"}},
		{name: "a password for an ssh repository",
			args: []string{"--repo", "ssh://git@git.example.invalid/state.git", "--git-ssh-key-file", key, "--git-known-hosts-file", knownHosts, "--git-password-file", password},
			want: []string{"--git-password-file given for the ssh remote ssh://git@git.example.invalid/state.git"}},
		{name: "an ssh key file that does not exist",
			args: []string{"--repo", "ssh://git@git.example.invalid/state.git", "--git-ssh-key-file", filepath.Join(dir, "missing"), "--git-known-hosts-file", knownHosts},
			want: []string{"--git-ssh-key-file " + filepath.Join(dir, "missing"), "no such file"}},
	}
	for _, tc := range cases {
		for name, c := range commands {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				cmd := c.newCmd(&stdout, &stderr)
				cmd.SetArgs(append(append([]string{}, c.args...), tc.args...))
				cmd.SetOut(&stdout)
				cmd.SetErr(&stderr)
				cmd.SilenceUsage, cmd.SilenceErrors = true, true
				ctx, cancel := context.WithCancel(context.Background())
				cancel() // a command that got past its flags stops at once instead of running
				err := cmd.ExecuteContext(ctx)
				require.Error(t, err, "%s accepted %v", name, tc.args)
				var coded *exitcode.Error
				if errors.As(err, &coded) {
					assert.Equal(t, exitcode.Unusable, coded.Code, "bad flags are bad usage")
				}
				for _, w := range tc.want {
					assert.Contains(t, err.Error(), w)
				}
				assert.NotContains(t, err.Error()+stderr.String()+stdout.String(), "s3cret")
				assert.NoDirExists(t, data, "nothing is created for bad flags")
			})
		}
	}
}

// TestTheAgentRefusesCredentialsForALocalFolder: the agent, approve and log
// take a folder as --repo (the backend takes URLs only); credentials for it
// are refused as for file://.
func TestTheAgentRefusesCredentialsForALocalFolder(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kc, []byte(kubeconfig), 0o600))
	token := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(token, []byte("t"), 0o600))
	bare := filepath.Join(dir, "state.git")
	out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).CombinedOutput()
	require.NoError(t, err, "%s", out)

	for name, cmd := range map[string]*cobra.Command{
		"agent": agentcmd.NewCommand(&bytes.Buffer{}, &bytes.Buffer{}),
		"log":   logcmd.NewCommand(&bytes.Buffer{}, &bytes.Buffer{}),
	} {
		t.Run(name, func(t *testing.T) {
			args := []string{"--repo", bare, "--git-bearer-token-file", token}
			if name == "agent" {
				args = append(args, "--kubeconfig", kc, "--cluster", "c1", "--metrics-bind-address", "0", "--health-probe-bind-address", "0")
			}
			cmd.SetArgs(args)
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := cmd.ExecuteContext(ctx)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "--git-bearer-token-file given for the local repository")
			assert.Contains(t, err.Error(), bare)
		})
	}
}
