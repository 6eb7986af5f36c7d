// Package gitflags holds the flags every bindsync command that reaches the
// state repository shares: the credential flags (--git-*, AddAuth, checked
// by CheckAuth) of backend, agent, approve and log, and --repo URL|DIR with
// Open for the user commands (approve, log).
package gitflags

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/git"
)

// Flags say where the state repository is and where its credentials are.
type Flags struct {
	Repo   string
	Branch string
	Auth   git.Auth
	// Signer signs the commits Open's repository writes (nil: unsigned);
	// set by the command, from Signing.
	Signer git.Signer
}

// Signing says which key signs the commits a command writes.
type Signing struct {
	KeyFile string
	Format  string
}

// Formats of --signing-key-format, as bindsync backend names them.
const (
	SigningSSH     = "ssh"
	SigningOpenPGP = "openpgp"
)

// Add registers --signing-key-file and --signing-key-format on fs, named as
// `bindsync backend` names them. what says what is signed.
func (s *Signing) Add(fs *pflag.FlagSet, what string) {
	fs.StringVar(&s.KeyFile, "signing-key-file", "", "file holding an unencrypted private key that signs "+what+" (empty: unsigned); agents running --verify-keys with its public key accept it")
	fs.StringVar(&s.Format, "signing-key-format", SigningSSH, "format of --signing-key-file: ssh (an ssh private key, as git's gpg.format=ssh) or openpgp (an armored OpenPGP private key)")
}

// Signer reads the key (nil: no --signing-key-file).
func (s *Signing) Signer() (git.Signer, error) {
	if s.Format != SigningSSH && s.Format != SigningOpenPGP {
		return nil, fmt.Errorf("--signing-key-format %q is not %s or %s", s.Format, SigningSSH, SigningOpenPGP)
	}
	if s.KeyFile == "" {
		return nil, nil
	}
	var sg git.Signer
	var err error
	if s.Format == SigningSSH {
		sg, err = git.NewSSHSigner(s.KeyFile)
	} else {
		sg, err = git.NewOpenPGPSignerFromFile(s.KeyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("--signing-key-file %s (--signing-key-format %s): %w", s.KeyFile, s.Format, err)
	}
	return sg, nil
}

// Add registers the flags on fs, named as `bindsync backend` names them.
func (f *Flags) Add(fs *pflag.FlagSet) {
	fs.StringVar(&f.Repo, "repo", "", "the state repository: a URL (file://, http(s)://, ssh://) or a local folder (required)")
	fs.StringVar(&f.Branch, "branch", "main", "the approved branch")
	AddAuth(fs, &f.Auth)
}

// URL is --repo as a URL: a folder becomes file://<absolute folder>.
func (f *Flags) URL() (string, error) {
	if f.Repo == "" {
		return "", fmt.Errorf("--repo is required: the state repository's URL or folder")
	}
	if strings.Contains(f.Repo, "://") {
		return f.Repo, nil
	}
	abs, err := filepath.Abs(f.Repo)
	if err != nil {
		return "", fmt.Errorf("--repo %s: %w", f.Repo, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("--repo %s: no such folder and not a URL", f.Repo)
	}
	return "file://" + abs, nil
}

// Open clones or fetches the repository into a temporary cache and returns
// it with a cleanup that removes the cache. author is the identity of the
// commits it writes (empty: bindsync's). Its errors carry their exit code:
// exitcode.Unusable for a --repo that is no URL, no folder, or a local
// folder that is not a git repository, and for credential flags that do
// not fit the URL or name unreadable files; for a remote, the code CodeOf
// chooses (Unreachable, Refused).
func (f *Flags) Open(ctx context.Context, authorName, authorEmail string) (*git.Repo, func(), error) {
	u, err := f.URL()
	if err != nil {
		return nil, nil, exitcode.New(exitcode.Unusable, err)
	}
	if err := CheckAuth(nil, f.Auth, u); err != nil {
		return nil, nil, exitcode.New(exitcode.Unusable, fmt.Errorf("%w: %w", err, git.ErrInvalidOptions))
	}
	dir, err := os.MkdirTemp("", "bindsync-repo-")
	if err != nil {
		return nil, nil, exitcode.New(exitcode.Problems, fmt.Errorf("cache for %s: %w", git.RedactURL(u), err))
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	repo, err := git.Open(ctx, git.Options{URL: u, Dir: filepath.Join(dir, "cache"), AuthorName: authorName, AuthorEmail: authorEmail, Signer: f.Signer,
		Auth: f.Auth})
	if err == nil {
		err = repo.Fetch(ctx)
	}
	if err != nil {
		cleanup()
		if strings.HasPrefix(u, "file://") && errors.Is(err, git.ErrRemote) {
			// nothing remote about a folder: it is not a repository
			return nil, nil, exitcode.New(exitcode.Unusable, fmt.Errorf("--repo %s is not a git repository: %w", f.Repo, err))
		}
		return nil, nil, Failed(err)
	}
	return repo, cleanup, nil
}
