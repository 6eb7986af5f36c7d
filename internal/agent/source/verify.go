package source

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/bindsync/bindsync/internal/git"
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
		v, err := git.NewSSHVerifier(sshFiles...)
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
