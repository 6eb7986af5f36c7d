package git

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/bindsync/bindsync/internal/testutil/sshgit"
)

// TestSSHAuthentication: bindsync reaches an ssh remote only with the key
// the server accepts and only when known_hosts vouches for the server's
// key; every refusal is an ErrRemote naming the remote and saying which side
// refused, and leaves the remote untouched.
func TestSSHAuthentication(t *testing.T) {
	ctx := context.Background()
	rem, srv := sshRemoteServer(t)
	dir := t.TempDir()
	strangerKey := filepath.Join(dir, "stranger")
	sshgit.WriteKey(t, strangerKey)
	knownHosts := func(name string, keys ...ssh.PublicKey) string {
		p := filepath.Join(dir, name)
		srv.KnownHosts(t, p, keys...)
		return p
	}
	otherHost := filepath.Join(dir, "other-host")
	foreign := sshgit.WriteKey(t, otherHost) // a key the server does not have

	tests := []struct {
		name string
		url  string // default: the remote's, with the user git
		auth Auth
		// refused is what the error says; empty: the push succeeds.
		refused []string
	}{
		{name: "the accepted key and a known_hosts listing every host key",
			auth: rem.Options.Auth},
		{name: "a known_hosts listing only the server's ed25519 key (as forges document it)",
			auth: Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: knownHosts("ed25519-only", srv.HostKeys[0])}},
		{name: "a known_hosts listing only the server's ECDSA key",
			auth: Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: knownHosts("ecdsa-only", srv.HostKeys[1])}},
		{name: "a client key the server does not accept",
			auth:    Auth{SSHKeyFile: strangerKey, KnownHostsFile: srv.KnownHostsFile},
			refused: []string{"the server refused the key in " + strangerKey}},
		{name: "the accepted key as another user (the URL names none)",
			url:     strings.Replace(rem.Options.URL, sshgit.User+"@", "", 1),
			auth:    Auth{Username: "root", SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: srv.KnownHostsFile},
			refused: []string{"the server refused the key in " + srv.ClientKeyFile}},
		{name: "a known_hosts without the server's address",
			auth:    Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: writeFile(t, filepath.Join(dir, "empty"), "")},
			refused: []string{"host key", "not in known_hosts file " + filepath.Join(dir, "empty")}},
		{name: "a known_hosts with another key for the server's address",
			auth:    Auth{SSHKeyFile: srv.ClientKeyFile, KnownHostsFile: knownHosts("mismatch", foreign)},
			refused: []string{"host key", "does not match known_hosts file " + filepath.Join(dir, "mismatch")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := gitCLI(t, rem.Bare, "for-each-ref")
			o := rem.Options
			o.Auth = tt.auth
			if tt.url != "" {
				o.URL = tt.url
			}
			o.Dir = filepath.Join(t.TempDir(), "cache")
			r := openRepo(t, o)
			_, _, err := r.Publish(ctx, "main", 1, constTree(sampleTree("c1"), bindMessage("c1", "pg")))
			if len(tt.refused) == 0 {
				require.NoError(t, err)
				_, err = r.ListRemote(ctx)
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			t.Logf("refused: %v", err)
			assert.ErrorIs(t, err, ErrRemote)
			assert.Contains(t, err.Error(), o.URL)
			for _, s := range tt.refused {
				assert.Contains(t, err.Error(), s)
			}
			assert.Equal(t, before, gitCLI(t, rem.Bare, "for-each-ref"), "nothing reached the remote")
		})
	}
}

func TestSSHOptionsNeedKeyAndKnownHosts(t *testing.T) {
	for name, auth := range map[string]Auth{
		"no key":                 {KnownHostsFile: "/k"},
		"no known_hosts":         {SSHKeyFile: "/id"},
		"a password for ssh":     {SSHKeyFile: "/id", KnownHostsFile: "/k", PasswordFile: "/p"},
		"a bearer token for ssh": {SSHKeyFile: "/id", KnownHostsFile: "/k", BearerTokenFile: "/t"},
	} {
		t.Run(name, func(t *testing.T) {
			o := Options{URL: "ssh://git@example.invalid/state.git", Dir: t.TempDir(), Auth: auth}
			assert.ErrorIs(t, o.Validate(), ErrInvalidOptions)
		})
	}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}
