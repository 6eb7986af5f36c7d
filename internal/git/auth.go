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
// again on every connection, so a rotated secret is picked up. It is the
// one credential type of every bindsync command that reaches the state
// repository (backend, agent, approve, log): Check is the one place its
// fields are checked against the remote, Method the one place they become
// a transport's auth.
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

// The flags every command gives Auth's fields with (internal/cli/gitflags
// registers them): Check's errors name them.
const (
	FlagUsername        = "--git-username"
	FlagPasswordFile    = "--git-password-file"
	FlagBearerTokenFile = "--git-bearer-token-file"
	FlagSSHKeyFile      = "--git-ssh-key-file"
	FlagKnownHostsFile  = "--git-known-hosts-file"
)

// Given returns the flags of the fields that are set, in flag order.
func (a Auth) Given() []string {
	var out []string
	for _, f := range a.Fields() {
		if *f.Value != "" {
			out = append(out, f.Flag)
		}
	}
	return out
}

// AuthField is one field of Auth and the flag that gives it.
type AuthField struct {
	Flag  string
	Value *string
	// File is true when the value is a file's path (all but the username).
	File bool
}

// Fields returns a's fields with their flags, in flag order.
func (a *Auth) Fields() []AuthField {
	return []AuthField{
		{FlagUsername, &a.Username, false},
		{FlagPasswordFile, &a.PasswordFile, true},
		{FlagBearerTokenFile, &a.BearerTokenFile, true},
		{FlagSSHKeyFile, &a.SSHKeyFile, true},
		{FlagKnownHostsFile, &a.KnownHostsFile, true},
	}
}

// Check checks that the credentials fit the remote at rawURL, before
// anything connects: none for a local repository (rawURL empty, a folder
// or file://), basic auth or a bearer token (not both) for http(s), a key
// and a known_hosts file for ssh (scp-like "git@host:path" included). The
// error names the flags and the remote (its user info redacted). Files are
// not read: Method reads them on every connection.
func (a Auth) Check(rawURL string) error {
	given := a.Given()
	if rawURL == "" {
		if len(given) > 0 {
			return fmt.Errorf("%s given but no remote URL: a local repository needs no credentials", strings.Join(given, ", "))
		}
		return nil
	}
	where := RedactURL(rawURL)
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return fmt.Errorf("remote URL %s: %w", where, err)
	}
	switch ep.Protocol {
	case "file":
		if len(given) > 0 {
			return fmt.Errorf("%s given for the local repository %s: a file:// or local repository needs no credentials; remove them", strings.Join(given, ", "), where)
		}
	case "http", "https":
		if a.SSHKeyFile != "" || a.KnownHostsFile != "" {
			return fmt.Errorf("%s given for the %s:// remote %s: an ssh key and known_hosts are for ssh:// remotes; use %s with %s, or %s",
				strings.Join(Auth{SSHKeyFile: a.SSHKeyFile, KnownHostsFile: a.KnownHostsFile}.Given(), ", "), ep.Protocol, where,
				FlagUsername, FlagPasswordFile, FlagBearerTokenFile)
		}
		if a.BearerTokenFile != "" && (a.PasswordFile != "" || a.Username != "") {
			return fmt.Errorf("%s given for %s: both a bearer token and basic auth; choose one",
				strings.Join(given, ", "), where)
		}
		if a.PasswordFile != "" && a.Username == "" {
			return fmt.Errorf("%s given for %s without %s: a password file needs a username", FlagPasswordFile, where, FlagUsername)
		}
	case "ssh":
		if a.PasswordFile != "" || a.BearerTokenFile != "" {
			return fmt.Errorf("%s given for the ssh remote %s: ssh uses a key file (%s)",
				strings.Join(Auth{PasswordFile: a.PasswordFile, BearerTokenFile: a.BearerTokenFile}.Given(), ", "), where, FlagSSHKeyFile)
		}
		if a.SSHKeyFile == "" {
			return fmt.Errorf("%s is an ssh remote without an ssh key file: it needs a key file and a known_hosts file (%s, %s)",
				where, FlagSSHKeyFile, FlagKnownHostsFile)
		}
		if a.KnownHostsFile == "" {
			return fmt.Errorf("%s is an ssh remote: %s needs a known_hosts file (%s): bindsync never trusts an unknown host key",
				where, FlagSSHKeyFile, FlagKnownHostsFile)
		}
	default:
		return fmt.Errorf("remote URL %s: scheme %q is not one of file, http, https, ssh", where, ep.Protocol)
	}
	return nil
}

// Method reads the credential files and returns the transport's auth for
// the remote at rawURL (nil when none is needed). It reads them on every
// call, so a rotated secret needs no restart; a file's surrounding white
// space (the newline `echo` adds) is not part of the secret.
func (a Auth) Method(rawURL string) (transport.AuthMethod, error) {
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
		return SSHAuth(rawURL, a.Username, a.SSHKeyFile, a.KnownHostsFile)
	}
	return nil, nil
}

// authMethod is the transport auth of the Repo's remote.
func (o *Options) authMethod() (transport.AuthMethod, error) {
	return o.Auth.Method(o.URL)
}

func readSecret(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s file: %w", what, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s file %s is empty", what, path)
	}
	return s, nil
}
