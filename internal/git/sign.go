package git

import (
	"bytes"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp"
	"golang.org/x/crypto/ssh"
)

// Signer signs a commit: it gets the encoded commit without signature and
// returns the armored signature git stores in the commit's gpgsig header.
// It is go-git's Signer interface.
type Signer interface {
	Sign(message io.Reader) ([]byte, error)
}

// NewOpenPGPSigner signs with an OpenPGP private key (git's default
// gpg.format). The key must be decrypted.
func NewOpenPGPSigner(key *openpgp.Entity) (Signer, error) {
	if key == nil || key.PrivateKey == nil {
		return nil, fmt.Errorf("openpgp signer: no private key")
	}
	if key.PrivateKey.Encrypted {
		return nil, fmt.Errorf("openpgp signer: private key %s is encrypted", key.PrimaryKey.KeyIdString())
	}
	return &pgpSigner{key: key}, nil
}

// NewOpenPGPSignerFromFile reads an armored, unencrypted OpenPGP private
// key from file (the first key of the file signs).
func NewOpenPGPSignerFromFile(file string) (Signer, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("openpgp signer: %w", err)
	}
	defer f.Close()
	keys, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		return nil, fmt.Errorf("openpgp signer: read key ring %s: %w", file, err)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("openpgp signer: no key in %s", file)
	}
	s, err := NewOpenPGPSigner(keys[0])
	if err != nil {
		return nil, fmt.Errorf("%w (key file %s)", err, file)
	}
	return s, nil
}

type pgpSigner struct{ key *openpgp.Entity }

func (s *pgpSigner) Sign(message io.Reader) ([]byte, error) {
	var b bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&b, s.key, message, nil); err != nil {
		return nil, fmt.Errorf("openpgp sign: %w", err)
	}
	return b.Bytes(), nil
}

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
