package source_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/testutil/sshgit"
)

// TestGetOverSSH reads the state repository from an ssh server (git's own
// upload-pack behind internal/testutil/sshgit) with the key and known_hosts
// from files: ls-remote, then a fetch only when the head moved, counted on
// the server's side; a key the server refuses and a host key known_hosts
// does not vouch for are SourceUnavailable errors that say which.
func TestGetOverSSH(t *testing.T) {
	repo := newTestRepo(t)
	first := repo.commit(map[string]string{"clusters/c1/app/kustomization.yaml": "resources: []\n"}, nil)
	srv := sshgit.Start(t, filepath.Dir(repo.dir))
	url := srv.URL(filepath.Base(repo.dir))
	ctx := context.Background()

	t.Run("ls-remote, then a fetch only when the head moved", func(t *testing.T) {
		src, err := source.New(source.Options{URL: url, Dir: "clusters/c1/app",
			Auth: source.Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: srv.KnownHostsFile}})
		require.NoError(t, err)
		_, uploads0 := srv.Commands()

		snap, fetched, err := src.Get(ctx)
		require.NoError(t, err)
		assert.True(t, fetched)
		assert.Equal(t, first, snap.Revision.Hash)
		assert.Equal(t, []string{"clusters/c1/app/kustomization.yaml"}, keys(snap))
		_, uploads1 := srv.Commands()
		assert.Equal(t, int64(2), uploads1-uploads0, "one ls-remote and one fetch reached the server")

		_, fetched, err = src.Get(ctx)
		require.NoError(t, err)
		assert.False(t, fetched)
		_, uploads2 := srv.Commands()
		assert.Equal(t, int64(1), uploads2-uploads1, "an unmoved head costs one ls-remote and no fetch")

		second := repo.commit(map[string]string{"clusters/c1/app/crds/a.yaml": "a: 1\n"}, nil)
		snap, fetched, err = src.Get(ctx)
		require.NoError(t, err)
		assert.True(t, fetched)
		assert.Equal(t, second, snap.Revision.Hash)
		assert.Equal(t, "a: 1\n", string(snap.FS["clusters/c1/app/crds/a.yaml"].Data))
		lists, fetches := src.Stats()
		assert.Equal(t, []int64{3, 2}, []int64{lists, fetches})
	})

	dir := t.TempDir()
	stranger := filepath.Join(dir, "stranger")
	sshgit.WriteKey(t, stranger)
	edOnly, mismatch := filepath.Join(dir, "ed25519-only"), filepath.Join(dir, "mismatch")
	srv.KnownHosts(t, edOnly, srv.HostKeys[0])
	srv.KnownHosts(t, mismatch, sshgit.WriteKey(t, filepath.Join(dir, "not-the-host")))
	tests := []struct {
		name string
		auth source.Auth
		// refused is what the error says; empty: the fetch succeeds.
		refused string
	}{
		{name: "a known_hosts listing only the server's ed25519 key", auth: source.Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: edOnly}},
		{name: "a key the server does not accept", auth: source.Auth{SSHKeyFile: stranger, KnownHostsFile: srv.KnownHostsFile},
			refused: "the server refused the key in " + stranger},
		{name: "a known_hosts with another key for the server", auth: source.Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: mismatch},
			refused: "does not match known_hosts file " + mismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := source.New(source.Options{URL: url, Dir: "clusters/c1/app", Auth: tt.auth})
			require.NoError(t, err)
			snap, _, err := src.Get(ctx)
			if tt.refused == "" {
				require.NoError(t, err)
				assert.Contains(t, snap.FS, "clusters/c1/app/kustomization.yaml")
				return
			}
			require.ErrorIs(t, err, source.ErrUnavailable)
			t.Logf("refused: %v", err)
			assert.Contains(t, err.Error(), tt.refused)
			assert.Contains(t, err.Error(), url)
		})
	}
}
