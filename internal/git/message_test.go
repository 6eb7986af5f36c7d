package git

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptionsValidate(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"local repository", Options{Dir: "/data"}, ""},
		{"file remote", Options{Dir: "/cache", URL: "file:///srv/state.git"}, ""},
		{"https with basic auth", Options{Dir: "/c", URL: "https://git.example/state.git", Auth: Auth{Username: "u", PasswordFile: "/p"}}, ""},
		{"https with a bearer token", Options{Dir: "/c", URL: "https://git.example/state.git", Auth: Auth{BearerTokenFile: "/t"}}, ""},
		{"ssh with key and known_hosts", Options{Dir: "/c", URL: "ssh://git@git.example/state.git", Auth: Auth{SSHKeyFile: "/k", KnownHostsFile: "/h"}}, ""},
		{"no folder", Options{URL: "file:///x"}, "no folder"},
		{"credentials without a remote", Options{Dir: "/d", Auth: Auth{PasswordFile: "/p"}}, "no remote URL"},
		{"unknown scheme", Options{Dir: "/d", URL: "ftp://x/y"}, "scheme \"ftp\""},
		{"not a URL", Options{Dir: "/d", URL: "state.git"}, "not a URL"},
		{"password without a user", Options{Dir: "/c", URL: "https://h/r", Auth: Auth{PasswordFile: "/p"}}, "needs a username"},
		{"token and password", Options{Dir: "/c", URL: "https://h/r", Auth: Auth{Username: "u", PasswordFile: "/p", BearerTokenFile: "/t"}}, "choose one"},
		{"ssh without known_hosts", Options{Dir: "/c", URL: "ssh://h/r", Auth: Auth{SSHKeyFile: "/k"}}, "known_hosts"},
		{"ssh without a key", Options{Dir: "/c", URL: "ssh://h/r", Auth: Auth{KnownHostsFile: "/h"}}, "ssh key file"},
		{"password for ssh", Options{Dir: "/c", URL: "ssh://h/r", Auth: Auth{SSHKeyFile: "/k", KnownHostsFile: "/h", PasswordFile: "/p"}}, "uses a key file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			err := o.Validate()
			if tc.wantErr != "" {
				require.ErrorIs(t, err, ErrInvalidOptions)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, DefaultAuthorName, o.AuthorName)
			assert.Equal(t, DefaultAuthorEmail, o.AuthorEmail)
			assert.NotNil(t, o.Now)
		})
	}
}
