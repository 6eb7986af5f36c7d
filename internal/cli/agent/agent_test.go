package agent_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bindsync/bindsync/internal/cli/app"
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // go test ./... -update
)

func TestAgentCommandRefusesIncompleteFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no cluster", []string{"agent", "--repo", "file:///tmp/x"}, "--cluster and --repo are required"},
		{"no repo", []string{"agent", "--cluster", "c1"}, "--cluster and --repo are required"},
		{"a secret as a flag value is not a flag", []string{"agent", "--password", "hunter2"}, "unknown flag: --password"},
		{"webhook without secret", []string{"agent", "--cluster", "c1", "--repo", "file:///tmp/x", "--kubeconfig", "testdata/kubeconfig",
			"--webhook-bind-address", "127.0.0.1:0", "--metrics-bind-address", "0", "--health-probe-bind-address", "0"}, "needs --webhook-secret-file"},
		{"leader election timings out of order", []string{"agent", "--cluster", "c1", "--repo", "file:///tmp/x", "--leader-elect",
			"--leader-election-lease-duration", "2s", "--leader-election-renew-deadline", "3s"}, "leader election needs 0 < --leader-election-retry-period"},
		{"an ssh remote without a key", []string{"agent", "--cluster", "c1", "--repo", "ssh://git@example.invalid/state.git", "--kubeconfig", "testdata/kubeconfig"},
			"ssh://git@example.invalid/state.git is an ssh remote without an ssh key file"},
		{"a password in --repo", []string{"agent", "--cluster", "c1", "--repo", "https://bindsync:s3cret@git.example.com/state.git", "--kubeconfig", "testdata/kubeconfig"},
			"remote URL https://git.example.com/state.git: the URL carries credentials"},
		{"a --log-level it does not take", []string{"agent", "--cluster", "c1", "--repo", "file:///tmp/x", "--log-level", "-3"},
			`--log-level "-3": want debug, info, error or a positive number`},
		{"a --log-format it does not take", []string{"agent", "--cluster", "c1", "--repo", "file:///tmp/x", "--log-format", "logfmt"},
			`--log-format "logfmt": want json or console`},
		{"a token as the user of --repo", []string{"agent", "--cluster", "c1", "--repo", "https://s3cret@git.example.com/state.git", "--kubeconfig", "testdata/kubeconfig"},
			"--git-password-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := app.RunAs("bindsync", tt.args, &out, &errb)
			assert.NotEqual(t, 0, code)
			assert.Contains(t, errb.String(), tt.want)
			assert.NotContains(t, errb.String(), "s3cret", "a secret never reaches a message")
		})
	}
}

func TestAgentCommandIsListed(t *testing.T) {
	var out, errb bytes.Buffer
	assert.Equal(t, 0, app.RunAs("bindsync", []string{"agent", "--help"}, &out, &errb))
	for _, flag := range []string{"--kubeconfig", "--cluster", "--repo", "--branch", "--interval", "--path", "--control-plane-kubeconfig",
		"--webhook-bind-address", "--webhook-secret-file", "--verify-keys", "--git-username", "--git-password-file", "--git-bearer-token-file", "--git-ssh-key-file", "--git-known-hosts-file",
		"--leader-elect", "--leader-election-lease-duration", "--leader-election-renew-deadline", "--leader-election-retry-period",
		"--memory-limit", "--pprof-bind-address", "--sync-instances"} {
		assert.Contains(t, out.String(), flag)
	}
	assert.Regexp(t, `--sync-instances\s+sync the instances of bound APIs .*\(default true\)`, out.String(),
		"instance sync is on unless turned off")
}
