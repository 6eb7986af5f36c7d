package source

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"
)

// OpenPGPVerifier trusts commits signed by any key of an armored OpenPGP
// key ring.
type OpenPGPVerifier struct {
	keyRings []string // one armored block per file
}

// NewOpenPGPVerifier reads armored public key rings from files; a commit
// signed by a key of any of them is trusted.
func NewOpenPGPVerifier(files ...string) (*OpenPGPVerifier, error) {
	if len(files) == 0 {
		return nil, errors.New("verify: no key files")
	}
	v := &OpenPGPVerifier{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("verify: read key %s: %w", f, err)
		}
		if !strings.Contains(string(data), "BEGIN PGP PUBLIC KEY BLOCK") {
			return nil, fmt.Errorf("verify: %s is not an armored OpenPGP public key", f)
		}
		v.keyRings = append(v.keyRings, string(data))
	}
	return v, nil
}

// Verify fails for an unsigned commit and for a signature by no trusted key.
func (v *OpenPGPVerifier) Verify(c *object.Commit) error {
	if c.PGPSignature == "" {
		return fmt.Errorf("commit %s is not signed", c.Hash)
	}
	var errs []error
	for _, kr := range v.keyRings {
		_, err := c.Verify(kr)
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("commit %s is not signed by a trusted key: %w", c.Hash, errors.Join(errs...))
}
