package git

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
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

// SSH commit signatures, both ways: NewSSHSigner writes them and
// SSHVerifier checks them, in the sshsig format `git -c gpg.format=ssh`
// uses (ssh-keygen -Y sign, namespace "git").

// sshsig constants (the format of ssh-keygen -Y sign, which git uses for
// gpg.format=ssh).
const (
	sshsigMagic     = "SSHSIG"
	sshsigVersion   = 1
	sshsigNamespace = "git"
	sshsigHash      = "sha512"
)

// NewSSHSigner signs with an unencrypted ssh private key file, in the
// format `git -c gpg.format=ssh` writes (sshsig, namespace "git"), which
// `git verify-commit` checks against gpg.ssh.allowedSignersFile.
func NewSSHSigner(keyFile string) (Signer, error) {
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("ssh signer: %w", err)
	}
	k, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("ssh signer: parse %s: %w", keyFile, err)
	}
	return &sshSigner{key: k}, nil
}

type sshSigner struct{ key ssh.Signer }

func (s *sshSigner) Sign(message io.Reader) ([]byte, error) {
	h := sha512.New()
	if _, err := io.Copy(h, message); err != nil {
		return nil, fmt.Errorf("ssh sign: %w", err)
	}
	var signed []byte
	signed = append(signed, sshsigMagic...)
	signed = appendSSHString(signed, []byte(sshsigNamespace))
	signed = appendSSHString(signed, nil) // reserved
	signed = appendSSHString(signed, []byte(sshsigHash))
	signed = appendSSHString(signed, h.Sum(nil))

	var sig *ssh.Signature
	var err error
	if as, ok := s.key.(ssh.AlgorithmSigner); ok && s.key.PublicKey().Type() == ssh.KeyAlgoRSA {
		sig, err = as.SignWithAlgorithm(rand.Reader, signed, ssh.KeyAlgoRSASHA512)
	} else {
		sig, err = s.key.Sign(rand.Reader, signed)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh sign: %w", err)
	}
	var blob []byte
	blob = append(blob, sshsigMagic...)
	blob = binary.BigEndian.AppendUint32(blob, sshsigVersion)
	blob = appendSSHString(blob, s.key.PublicKey().Marshal())
	blob = appendSSHString(blob, []byte(sshsigNamespace))
	blob = appendSSHString(blob, nil)
	blob = appendSSHString(blob, []byte(sshsigHash))
	blob = appendSSHString(blob, ssh.Marshal(sig))

	enc := base64.StdEncoding.EncodeToString(blob)
	var out bytes.Buffer
	out.WriteString("-----BEGIN SSH SIGNATURE-----\n")
	for len(enc) > 70 {
		out.WriteString(enc[:70])
		out.WriteByte('\n')
		enc = enc[70:]
	}
	out.WriteString(enc)
	out.WriteString("\n-----END SSH SIGNATURE-----\n")
	return out.Bytes(), nil
}

func appendSSHString(dst, s []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

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
	const magic = sshsigMagic
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
	if sig.Version != sshsigVersion || sig.Namespace != sshsigNamespace {
		return fmt.Errorf("SSH signature version %d namespace %q: want %d and %q", sig.Version, sig.Namespace, sshsigVersion, sshsigNamespace)
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
