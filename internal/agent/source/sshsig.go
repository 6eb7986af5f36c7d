package source

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"golang.org/x/crypto/ssh"
)

// SSHVerifier trusts commits signed (git's gpg.format=ssh, namespace "git")
// by one of a set of SSH public keys.
type SSHVerifier struct {
	keys []ssh.PublicKey
}

// NewSSHVerifier reads SSH public keys in authorized_keys form (one per
// line, "ssh-ed25519 AAAA... comment") from files.
func NewSSHVerifier(files ...string) (*SSHVerifier, error) {
	v := &SSHVerifier{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("verify: read key %s: %w", f, err)
		}
		for rest := data; len(bytes.TrimSpace(rest)) > 0; {
			key, _, _, next, err := ssh.ParseAuthorizedKey(rest)
			if err != nil {
				return nil, fmt.Errorf("verify: %s: not an SSH public key: %w", f, err)
			}
			v.keys = append(v.keys, key)
			rest = next
		}
	}
	if len(v.keys) == 0 {
		return nil, errors.New("verify: no SSH public keys")
	}
	return v, nil
}

// Verify fails for an unsigned commit, a signature that is not an SSH
// signature of the commit in the "git" namespace, or one by an untrusted key.
func (v *SSHVerifier) Verify(c *object.Commit) error {
	if c.PGPSignature == "" {
		return fmt.Errorf("commit %s is not signed", c.Hash)
	}
	msg, err := unsignedCommit(c)
	if err != nil {
		return err
	}
	if err := verifySSHSig(c.PGPSignature, msg, v.keys); err != nil {
		return fmt.Errorf("commit %s: %w", c.Hash, err)
	}
	return nil
}

// unsignedCommit returns the bytes a commit signature covers.
func unsignedCommit(c *object.Commit) ([]byte, error) {
	o := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(o); err != nil {
		return nil, err
	}
	r, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// verifySSHSig checks an armored SSHSIG signature of message.
func verifySSHSig(armored string, message []byte, trusted []ssh.PublicKey) error {
	block, _ := pem.Decode([]byte(strings.TrimSpace(armored)))
	if block == nil || block.Type != "SSH SIGNATURE" {
		return errors.New("not an SSH signature")
	}
	const magic = "SSHSIG"
	if !bytes.HasPrefix(block.Bytes, []byte(magic)) {
		return errors.New("SSH signature without the SSHSIG preamble")
	}
	var sig struct {
		Version       uint32
		PublicKey     []byte
		Namespace     string
		Reserved      string
		HashAlgorithm string
		Signature     []byte
	}
	if err := ssh.Unmarshal(block.Bytes[len(magic):], &sig); err != nil {
		return fmt.Errorf("SSH signature: %w", err)
	}
	if sig.Version != 1 || sig.Namespace != "git" {
		return fmt.Errorf("SSH signature version %d namespace %q: want 1 and \"git\"", sig.Version, sig.Namespace)
	}
	pub, err := ssh.ParsePublicKey(sig.PublicKey)
	if err != nil {
		return fmt.Errorf("SSH signature key: %w", err)
	}
	if !isTrusted(pub, trusted) {
		return fmt.Errorf("signed by %s, which is not a trusted key", ssh.FingerprintSHA256(pub))
	}
	var h hash.Hash
	switch sig.HashAlgorithm {
	case "sha256":
		h = sha256.New()
	case "sha512":
		h = sha512.New()
	default:
		return fmt.Errorf("SSH signature hash %q not supported", sig.HashAlgorithm)
	}
	h.Write(message)
	signed := append([]byte(magic), ssh.Marshal(struct {
		Namespace, Reserved, HashAlgorithm string
		Hash                               []byte
	}{sig.Namespace, sig.Reserved, sig.HashAlgorithm, h.Sum(nil)})...)
	var s ssh.Signature
	if err := ssh.Unmarshal(sig.Signature, &s); err != nil {
		return fmt.Errorf("SSH signature blob: %w", err)
	}
	if err := pub.Verify(signed, &s); err != nil {
		return fmt.Errorf("SSH signature does not match the commit: %w", err)
	}
	return nil
}

func isTrusted(pub ssh.PublicKey, trusted []ssh.PublicKey) bool {
	for _, t := range trusted {
		if bytes.Equal(pub.Marshal(), t.Marshal()) {
			return true
		}
	}
	return false
}

// NewVerifier reads key files of either kind: armored OpenPGP public keys
// and SSH public keys (authorized_keys form). A commit signed by any of them
// is trusted.
func NewVerifier(files ...string) (Verifier, error) {
	var pgp, sshFiles []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("verify: read key %s: %w", f, err)
		}
		if strings.Contains(string(data), "BEGIN PGP PUBLIC KEY BLOCK") {
			pgp = append(pgp, f)
		} else {
			sshFiles = append(sshFiles, f)
		}
	}
	var vs anyVerifier
	if len(pgp) > 0 {
		v, err := NewOpenPGPVerifier(pgp...)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	if len(sshFiles) > 0 {
		v, err := NewSSHVerifier(sshFiles...)
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	if len(vs) == 0 {
		return nil, errors.New("verify: no key files")
	}
	return vs, nil
}

// anyVerifier trusts a commit any of its verifiers trusts.
type anyVerifier []Verifier

func (vs anyVerifier) Verify(c *object.Commit) error {
	var errs []error
	for _, v := range vs {
		err := v.Verify(c)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
