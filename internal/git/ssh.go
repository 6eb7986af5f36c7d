package git

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHAuth returns the transport auth for an ssh:// remote at url: the
// private key in keyFile (unencrypted), as the URL's user, else user, else
// "git"; the server's host key is checked against knownHostsFile, and only
// the key types that file lists for the host are offered in the handshake,
// so a known_hosts with one of a server's several keys (the ed25519 line a
// forge documents) is enough. Both files are read on every call, so a
// rotated key needs no restart. The agent's source uses it too.
func SSHAuth(url, user, keyFile, knownHostsFile string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, fmt.Errorf("parse remote URL %s: %w", url, err)
	}
	if ep.User != "" {
		user = ep.User
	}
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeysFromFile(user, keyFile, "")
	if err != nil {
		return nil, fmt.Errorf("read ssh key %s: %w", keyFile, err)
	}
	db, err := gitssh.NewKnownHostsDb(knownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts %s: %w", knownHostsFile, err)
	}
	port := ep.Port
	if port <= 0 {
		port = gitssh.DefaultPort
	}
	check := db.HostKeyCallback()
	keys.HostKeyAlgorithms = db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, strconv.Itoa(port)))
	keys.HostKeyCallback = func(host string, remote net.Addr, key ssh.PublicKey) error {
		return explainHostKey(check(host, remote, key), host, key, knownHostsFile)
	}
	return keys, nil
}

// explainHostKey turns a known_hosts refusal into one that names the host,
// the key it offered and the file that did not vouch for it.
func explainHostKey(err error, host string, key ssh.PublicKey, file string) error {
	var ke *knownhosts.KeyError
	if !errors.As(err, &ke) {
		return err
	}
	offered := key.Type() + " " + ssh.FingerprintSHA256(key)
	if len(ke.Want) == 0 {
		return fmt.Errorf("host key %s of %s is not in known_hosts file %s: bindsync never trusts an unknown host; add the server's key there (checked out of band)", offered, host, file)
	}
	var want []string
	for _, k := range ke.Want {
		want = append(want, k.Key.Type()+" "+ssh.FingerprintSHA256(k.Key))
	}
	return fmt.Errorf("host key %s of %s does not match known_hosts file %s, which lists %s for it: refusing to connect (the server's key changed, or this is not the server)",
		offered, host, file, strings.Join(want, ", "))
}

// ExplainSSHRefusal says which key file the server refused when err is an
// ssh handshake that failed authentication; other errors are returned as
// they are.
func ExplainSSHRefusal(err error, keyFile string) error {
	if err == nil || keyFile == "" || !strings.Contains(err.Error(), "ssh: unable to authenticate") {
		return err
	}
	return fmt.Errorf("the server refused the key in %s (is its public key authorized for this user and repository?): %w", keyFile, err)
}
