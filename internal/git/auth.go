package git

import (
	"fmt"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// Auth says where the credentials for the remote are. Credentials always
// come from files (mounted secrets), never from flag values, and are read
// again on every connection, so a rotated secret is picked up.
type Auth struct {
	// Username is the basic-auth user (http) or the ssh user when the URL
	// names none (default "git").
	Username string
	// PasswordFile holds the basic-auth password (http).
	PasswordFile string
	// BearerTokenFile holds an http bearer token.
	BearerTokenFile string
	// SSHKeyFile holds an unencrypted ssh private key.
	SSHKeyFile string
	// KnownHostsFile holds the ssh server's host keys (known_hosts format).
	// It is required with ssh: bindsync never trusts an unknown host key.
	KnownHostsFile string
}

// authMethod reads the credentials files and returns the transport's auth
// (nil when none is needed).
func (o *Options) authMethod() (transport.AuthMethod, error) {
	a := o.Auth
	switch {
	case a.BearerTokenFile != "":
		tok, err := readSecret(a.BearerTokenFile, "bearer token")
		if err != nil {
			return nil, err
		}
		return &githttp.TokenAuth{Token: tok}, nil
	case a.PasswordFile != "":
		pw, err := readSecret(a.PasswordFile, "password")
		if err != nil {
			return nil, err
		}
		return &githttp.BasicAuth{Username: a.Username, Password: pw}, nil
	case a.SSHKeyFile != "":
		return SSHAuth(o.URL, a.Username, a.SSHKeyFile, a.KnownHostsFile)
	}
	return nil, nil
}

func readSecret(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s file: %w", what, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s file %s is empty", what, path)
	}
	return s, nil
}
