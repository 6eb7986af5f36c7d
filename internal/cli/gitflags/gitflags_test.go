package gitflags_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/cli/gitflags"
	"github.com/bindsync/bindsync/internal/git"
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // go test ./... -update
	"github.com/bindsync/bindsync/internal/testutil/sshgit"
)

// TestOpenOverSSH: approve and log reach an ssh:// state repository with
// --git-ssh-key-file and --git-known-hosts-file, and refuse one without a
// known_hosts file rather than trust any host.
func TestOpenOverSSH(t *testing.T) {
	root := t.TempDir()
	bare := filepath.Join(root, "state.git")
	work := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q", "--bare", "-b", "main", bare},
		{"init", "-q", "-b", "main", work},
		{"-C", work, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "--allow-empty", "-m", "first"},
		{"-C", work, "push", "-q", bare, "main"},
	} {
		out, err := exec.Command("git", args...).CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	head, err := exec.Command("git", "--git-dir", bare, "rev-parse", "main").Output()
	require.NoError(t, err)
	srv := sshgit.Start(t, root)

	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"key and known_hosts from files", []string{"--repo", srv.URL("state.git"),
			"--git-ssh-key-file", srv.ClientKeyFile, "--git-known-hosts-file", srv.KnownHostsFile}, ""},
		{"no known_hosts file", []string{"--repo", srv.URL("state.git"), "--git-ssh-key-file", srv.ClientKeyFile},
			"needs a known_hosts file"},
		{"no key file", []string{"--repo", srv.URL("state.git"), "--git-known-hosts-file", srv.KnownHostsFile},
			"is an ssh remote without an ssh key file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f gitflags.Flags
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			f.Add(fs)
			require.NoError(t, fs.Parse(tt.args))
			repo, cleanup, err := f.Open(context.Background(), "", "")
			if tt.wantErr != "" {
				require.ErrorIs(t, err, git.ErrInvalidOptions)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			defer cleanup()
			got, err := repo.Head("main")
			require.NoError(t, err)
			assert.Equal(t, string(head[:40]), got.String())
			_, err = os.Stat(repo.Dir())
			assert.NoError(t, err)
		})
	}
}
