package git

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp"
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
