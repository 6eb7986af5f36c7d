package git

import (
	"os"
	"path/filepath"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuthCheck: the one check of credentials against a remote, which every
// command (backend, agent, approve, log) runs. Each refusal names the flags
// and the remote, never a secret in the URL.
func TestAuthCheck(t *testing.T) {
	user := Auth{Username: "bindsync"}
	basic := Auth{Username: "bindsync", PasswordFile: "/p"}
	token := Auth{BearerTokenFile: "/t"}
	ssh := Auth{SSHKeyFile: "/k", KnownHostsFile: "/h"}
	cases := []struct {
		name string
		auth Auth
		url  string
		want []string // substrings of the error; none: accepted
	}{
		{name: "a local repository without credentials", url: ""},
		{name: "file:// without credentials", url: "file:///srv/state.git"},
		{name: "a folder without credentials", url: "/srv/state.git"},
		{name: "https with basic auth", auth: basic, url: "https://git.example/state.git"},
		{name: "https with a bearer token", auth: token, url: "https://git.example/state.git"},
		{name: "http without credentials", url: "http://git.example/state.git"},
		{name: "ssh with key and known_hosts", auth: ssh, url: "ssh://git@git.example/state.git"},
		{name: "scp-like ssh with key and known_hosts", auth: ssh, url: "git@git.example:state.git"},
		{name: "ssh with a user, key and known_hosts", auth: Auth{Username: "deploy", SSHKeyFile: "/k", KnownHostsFile: "/h"}, url: "ssh://git.example/state.git"},

		{name: "credentials without a remote", auth: basic, url: "",
			want: []string{"--git-username, --git-password-file given but no remote URL"}},
		{name: "a password file for file://", auth: basic, url: "file:///srv/state.git",
			want: []string{"--git-username, --git-password-file given for the local repository file:///srv/state.git", "needs no credentials"}},
		{name: "a username for file://", auth: user, url: "file:///srv/state.git",
			want: []string{"--git-username given for the local repository file:///srv/state.git"}},
		{name: "a bearer token for a folder", auth: token, url: "/srv/state.git",
			want: []string{"--git-bearer-token-file given for the local repository /srv/state.git"}},
		{name: "an ssh key for a folder", auth: ssh, url: "/srv/state.git",
			want: []string{"--git-ssh-key-file, --git-known-hosts-file given for the local repository /srv/state.git"}},
		{name: "an ssh key for https", auth: Auth{SSHKeyFile: "/k"}, url: "https://git.example/state.git",
			want: []string{"--git-ssh-key-file given for the https:// remote https://git.example/state.git"}},
		{name: "known_hosts for http", auth: Auth{KnownHostsFile: "/h"}, url: "http://git.example/state.git",
			want: []string{"--git-known-hosts-file given for the http:// remote http://git.example/state.git"}},
		{name: "a password and a bearer token", auth: Auth{Username: "u", PasswordFile: "/p", BearerTokenFile: "/t"}, url: "https://git.example/state.git",
			want: []string{"--git-username, --git-password-file, --git-bearer-token-file given for https://git.example/state.git", "choose one"}},
		{name: "a username with a bearer token", auth: Auth{Username: "u", BearerTokenFile: "/t"}, url: "https://git.example/state.git",
			want: []string{"--git-username, --git-bearer-token-file", "choose one"}},
		{name: "a password without a username", auth: Auth{PasswordFile: "/p"}, url: "https://git.example/state.git",
			want: []string{"--git-password-file given for https://git.example/state.git without --git-username"}},
		{name: "a password for ssh", auth: Auth{SSHKeyFile: "/k", KnownHostsFile: "/h", PasswordFile: "/p"}, url: "ssh://git@git.example/state.git",
			want: []string{"--git-password-file given for the ssh remote ssh://git@git.example/state.git", "--git-ssh-key-file"}},
		{name: "a bearer token for scp-like ssh", auth: Auth{BearerTokenFile: "/t"}, url: "git@git.example:state.git",
			want: []string{"--git-bearer-token-file given for the ssh remote", "git.example:state.git"}},
		{name: "ssh without a key", auth: Auth{KnownHostsFile: "/h"}, url: "ssh://git@git.example/state.git",
			want: []string{"ssh://git@git.example/state.git is an ssh remote without an ssh key file", "--git-ssh-key-file, --git-known-hosts-file"}},
		{name: "ssh without known_hosts", auth: Auth{SSHKeyFile: "/k"}, url: "ssh://git@git.example/state.git",
			want: []string{"ssh://git@git.example/state.git is an ssh remote", "needs a known_hosts file (--git-known-hosts-file)"}},
		{name: "an unknown scheme", url: "ftp://git.example/state.git",
			want: []string{"remote URL ftp://git.example/state.git", `scheme "ftp"`}},
		{name: "a password in an ssh URL is never shown", auth: Auth{PasswordFile: "/p"}, url: "ssh://git:s3cret@git.example/state.git",
			want: []string{"--git-password-file given for the ssh remote"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.auth.Check(tc.url)
			if len(tc.want) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "s3cret")
		})
	}
}

// TestAuthMethod: the files become the transport's auth, read on each call,
// without the newline a secret file usually ends with.
func TestAuthMethod(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "password")
	require.NoError(t, os.WriteFile(pw, []byte("s3cret\n"), 0o600))
	tok := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(tok, []byte(" t0ken \r\n"), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))

	m, err := Auth{Username: "u", PasswordFile: pw}.Method("https://git.example/state.git")
	require.NoError(t, err)
	assert.Equal(t, &githttp.BasicAuth{Username: "u", Password: "s3cret"}, m)
	m, err = Auth{BearerTokenFile: tok}.Method("https://git.example/state.git")
	require.NoError(t, err)
	assert.Equal(t, &githttp.TokenAuth{Token: "t0ken"}, m)
	m, err = Auth{}.Method("https://git.example/state.git")
	require.NoError(t, err)
	assert.Nil(t, m)

	_, err = Auth{BearerTokenFile: empty}.Method("https://git.example/state.git")
	assert.ErrorContains(t, err, "bearer token file "+empty+" is empty")
	_, err = Auth{Username: "u", PasswordFile: filepath.Join(dir, "missing")}.Method("https://git.example/state.git")
	assert.ErrorContains(t, err, "read password file")
	_, err = Auth{SSHKeyFile: filepath.Join(dir, "missing"), KnownHostsFile: pw}.Method("ssh://git@git.example/state.git")
	assert.ErrorContains(t, err, "read ssh key")
}
