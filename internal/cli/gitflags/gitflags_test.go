package gitflags_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/cli/gitflags"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/testutil/gitrepo"
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // go test ./... -update
	"github.com/bindsync/bindsync/internal/testutil/sshgit"
)

// TestOpenOverSSH: approve and log reach an ssh:// state repository with
// --git-ssh-key-file and --git-known-hosts-file, and refuse one without a
// known_hosts file rather than trust any host.
func TestOpenOverSSH(t *testing.T) {
	root := t.TempDir()
	bare := filepath.Join(root, "state.git")
	head := gitrepo.Bare(t, bare)
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
			assert.Equal(t, head, got.String())
			_, err = os.Stat(repo.Dir())
			assert.NoError(t, err)
		})
	}
}
