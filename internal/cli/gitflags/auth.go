package gitflags

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/bindsync/bindsync/internal/git"
)

// AddAuth registers the credential flags of every command that reaches the
// state repository on fs: --git-username, --git-password-file,
// --git-bearer-token-file, --git-ssh-key-file, --git-known-hosts-file.
// Secrets are files, never flag values: a value shows in `ps` and in shell
// history.
func AddAuth(fs *pflag.FlagSet, a *git.Auth) {
	for _, f := range authFlags(a) {
		fs.StringVar(f.value, f.name, "", f.usage)
	}
}

// AddDeprecatedAuthAliases registers the agent's former names of the
// credential flags (--username, --password-file, --bearer-token-file,
// --ssh-key-file, --known-hosts-file) as deprecated aliases of AddAuth's:
// they set the same fields, so deployments that use them keep working,
// and using one prints which flag replaces it. CheckAuth refuses a former
// name and its --git-* name given together.
func AddDeprecatedAuthAliases(fs *pflag.FlagSet, a *git.Auth) {
	for _, f := range authFlags(a) {
		old := strings.TrimPrefix(f.name, "git-")
		fs.StringVar(f.value, old, "", f.usage)
		_ = fs.MarkDeprecated(old, "use --"+f.name+" instead")
	}
}

// CheckAuth checks the credential flags against the repository at rawURL
// (empty: a local repository) before anything connects: git.Auth.Check's
// rules (no credentials for a file:// or local repository, basic auth or
// a bearer token for http(s), a key and known_hosts for ssh), and that each
// file exists. fs, when not nil, is the command's flag set: a deprecated
// alias given with its --git-* name is refused. Every error names the
// flag.
func CheckAuth(fs *pflag.FlagSet, a git.Auth, rawURL string) error {
	if fs != nil {
		for _, f := range authFlags(&a) {
			old := strings.TrimPrefix(f.name, "git-")
			if fs.Lookup(old) != nil && fs.Changed(old) && fs.Changed(f.name) {
				return fmt.Errorf("--%s and --%s both given: --%s is the deprecated name of --%s; give only --%s", old, f.name, old, f.name, f.name)
			}
		}
	}
	if err := a.Check(rawURL); err != nil {
		return err
	}
	for _, f := range a.Fields() {
		if !f.File || *f.Value == "" {
			continue
		}
		if _, err := os.Stat(*f.Value); err != nil {
			return fmt.Errorf("%s %s: %w", f.Flag, *f.Value, err)
		}
	}
	return nil
}

// flagName is a flag's name without its dashes.
func flagName(flag string) string { return strings.TrimPrefix(flag, "--") }

type authFlag struct {
	name  string
	value *string
	usage string
}

func authFlags(a *git.Auth) []authFlag {
	return []authFlag{
		{flagName(git.FlagUsername), &a.Username, "http basic-auth user (with --git-password-file), or the ssh user when the URL names none (default git)"},
		{flagName(git.FlagPasswordFile), &a.PasswordFile, "file holding the http basic-auth password or access token (with --git-username)"},
		{flagName(git.FlagBearerTokenFile), &a.BearerTokenFile, "file holding an http bearer token"},
		{flagName(git.FlagSSHKeyFile), &a.SSHKeyFile, "file holding the unencrypted ssh private key (with --git-known-hosts-file)"},
		{flagName(git.FlagKnownHostsFile), &a.KnownHostsFile, "known_hosts file listing the ssh server's host keys (required with ssh: unknown hosts are never trusted)"},
	}
}
