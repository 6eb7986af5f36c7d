package git

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Options say which repository Open opens and how bindsync commits to it.
type Options struct {
	// URL of the remote: file://, http(s)://, ssh://. Empty: no remote; Dir
	// is then a local bare repository that Open creates if missing (the
	// backend's --data-dir mode), and agents read it over file://.
	URL string
	// Dir is the local bare repository (no URL) or the cache folder for the
	// clone of URL.
	Dir string
	// Auth says where the remote's credentials are.
	Auth Auth
	// AuthorName and AuthorEmail are the author and committer of bindsync's
	// commits (defaults "bindsync", "bindsync@localhost").
	AuthorName, AuthorEmail string
	// Signer signs commits when non-nil: see NewSSHSigner, NewOpenPGPSigner.
	Signer Signer
	// Now is the clock for commit times (nil: time.Now), so tests can pin it.
	Now func() time.Time
}

// Defaults of Options.
const (
	DefaultAuthorName  = "bindsync"
	DefaultAuthorEmail = "bindsync@localhost"
	remoteName         = "origin"
)

// Validate fills defaults and checks that the fields make sense together.
// Errors wrap ErrInvalidOptions.
func (o *Options) Validate() error {
	if o.AuthorName == "" {
		o.AuthorName = DefaultAuthorName
	}
	if o.AuthorEmail == "" {
		o.AuthorEmail = DefaultAuthorEmail
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := o.check(); err != nil {
		return fmt.Errorf("git options for %s: %w: %w", o.where(), err, ErrInvalidOptions)
	}
	return nil
}

func (o *Options) check() error {
	if o.Dir == "" {
		return fmt.Errorf("no folder (Dir) for the repository")
	}
	a := o.Auth
	if o.URL == "" {
		return a.Check("")
	}
	scheme, err := urlScheme(o.URL)
	if err != nil {
		return err
	}
	if err := CheckURL(o.URL); err != nil {
		return err
	}
	switch scheme {
	case "file", "http", "https", "ssh":
		return a.Check(o.URL)
	default:
		return fmt.Errorf("remote URL %q: scheme %q is not one of file, http, https, ssh", RedactURL(o.URL), scheme)
	}
}

func (o *Options) where() string {
	if o.URL != "" {
		return RedactURL(o.URL)
	}
	return o.Dir
}

func urlScheme(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "", fmt.Errorf("remote URL %q is not a URL with a scheme (file://, http(s)://, ssh://)", RedactURL(raw))
	}
	return strings.ToLower(u.Scheme), nil
}
