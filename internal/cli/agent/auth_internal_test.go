package agent

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/testutil/gitrepo"
	"github.com/bindsync/bindsync/internal/testutil/sshgit"
)

// TestTheFormerCredentialFlagsStillReachTheRemote: the agent's former names
// of the credential flags (--ssh-key-file, --known-hosts-file, ...) are
// deprecated aliases of --git-*: an agent deployed with them still reads
// a real ssh remote, and is told which flag replaces each. Both names of
// one flag together are refused.
func TestTheFormerCredentialFlagsStillReachTheRemote(t *testing.T) {
	root := t.TempDir()
	bare := filepath.Join(root, "state.git")
	head := gitrepo.Bare(t, bare)
	srv := sshgit.Start(t, root)

	for _, tc := range []struct {
		name       string
		args       []string
		deprecated []string
	}{
		{name: "the former names", args: []string{"--ssh-key-file", srv.ClientKeyFile, "--known-hosts-file", srv.KnownHostsFile, "--username", "git"},
			deprecated: []string{"--ssh-key-file has been deprecated, use --git-ssh-key-file instead",
				"--known-hosts-file has been deprecated, use --git-known-hosts-file instead",
				"--username has been deprecated, use --git-username instead"}},
		{name: "the --git-* names", args: []string{"--git-ssh-key-file", srv.ClientKeyFile, "--git-known-hosts-file", srv.KnownHostsFile}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, f := newCommand(io.Discard, io.Discard)
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			require.NoError(t, cmd.ParseFlags(append([]string{"--cluster", "c1", "--repo", srv.URL("state.git")}, tc.args...)))
			for _, d := range tc.deprecated {
				assert.Contains(t, out.String(), d)
			}
			if len(tc.deprecated) == 0 {
				assert.NotContains(t, out.String(), "deprecated")
			}
			_, src, err := sourceFor(f)
			require.NoError(t, err)
			got, err := src.Head(context.Background())
			require.NoError(t, err)
			assert.Equal(t, head, got.String())
		})
	}

	t.Run("a former name and its --git-* name together", func(t *testing.T) {
		cmd, f := newCommand(io.Discard, io.Discard)
		cmd.SetOut(io.Discard)
		require.NoError(t, cmd.ParseFlags([]string{"--cluster", "c1", "--repo", srv.URL("state.git"), "--known-hosts-file", srv.KnownHostsFile,
			"--ssh-key-file", srv.ClientKeyFile, "--git-ssh-key-file", srv.ClientKeyFile}))
		_, _, err := sourceFor(f)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--ssh-key-file and --git-ssh-key-file both given")
	})
}
