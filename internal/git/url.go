package git

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// ErrURLCredentials means a remote URL carries a secret in its user info
// (https://user:token@host/..., https://token@host/...). A URL is shown in
// logs, errors and request conditions every app cluster can read, so
// bindsync takes credentials from files only.
var ErrURLCredentials = errors.New("the URL carries credentials")

// CheckURL refuses a remote URL that carries credentials: a password in
// any scheme, and any user info at all in http(s), where the user part
// alone is often a token. An ssh:// URL may name its user (ssh://git@host).
// The error shows the URL with the user info removed.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return nil // not a URL: the caller's own check says so
	}
	_, hasPassword := u.User.Password()
	scheme := strings.ToLower(u.Scheme)
	if !hasPassword && scheme != "http" && scheme != "https" {
		return nil
	}
	hint := FlagUsername + " with " + FlagPasswordFile + ", or " + FlagBearerTokenFile
	if scheme == "ssh" {
		hint = "an ssh key file (" + FlagSSHKeyFile + ")"
	}
	return fmt.Errorf("remote URL %s: %w: remove the user info and give the credentials in a file, %s",
		RedactURL(raw), ErrURLCredentials, hint)
}

// userinfo matches the user info of a URL that does not parse.
var userinfo = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://)?[^/@]*@`)

// RedactURL returns raw fit for a log line or an error: the user info of an
// http(s) URL is dropped and the password of any other is replaced, so a
// secret that reached a URL never reaches a message. A string that does
// not parse as a URL loses everything up to its first "@".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return userinfo.ReplaceAllString(raw, "${1}redacted@")
	}
	if u.User == nil {
		return raw
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		u.User = nil
	default:
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "redacted")
		}
	}
	return u.String()
}
