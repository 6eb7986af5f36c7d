package git

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSSHSignedCommitsVerifyWithGit(t *testing.T) {
	for _, keyType := range []string{"ed25519", "rsa", "ecdsa"} {
		t.Run(keyType, func(t *testing.T) {
			dir := t.TempDir()
			key := filepath.Join(dir, "id")
			out, err := exec.Command("ssh-keygen", "-q", "-t", keyType, "-N", "", "-C", "bindsync", "-f", key).CombinedOutput()
			require.NoError(t, err, string(out))
			pub, err := os.ReadFile(key + ".pub")
			require.NoError(t, err)
			allowed := filepath.Join(dir, "allowed_signers")
			require.NoError(t, os.WriteFile(allowed, []byte(DefaultAuthorEmail+" "+string(pub)), 0o644))

			signer, err := NewSSHSigner(key)
			require.NoError(t, err)
			r := openRepo(t, Options{Dir: filepath.Join(dir, "state.git"), Signer: signer})
			h, _, err := r.Commit(plumbing.ZeroHash, sampleTree("c1"), bindMessage("c1", "pg"))
			require.NoError(t, err)

			out2, err := gitCLIErr(r.Dir(), "-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", "-v", h.String())
			require.NoError(t, err, out2)
			assert.Contains(t, out2, `Good "git" signature for `+DefaultAuthorEmail)

			// bindsync's own verifier, in the same file as the signer, agrees
			pubFile := filepath.Join(dir, "trusted.pub")
			require.NoError(t, os.WriteFile(pubFile, pub, 0o644))
			v, err := NewSSHVerifier(pubFile)
			require.NoError(t, err)
			c, err := r.commitObject(h)
			require.NoError(t, err)
			require.NoError(t, v.Verify(c), "SSHVerifier accepts what NewSSHSigner signed")

			// a different key is refused
			other := filepath.Join(dir, "other")
			_, err = exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other).CombinedOutput()
			require.NoError(t, err)
			otherPub, err := os.ReadFile(other + ".pub")
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(allowed, []byte(DefaultAuthorEmail+" "+string(otherPub)), 0o644))
			_, err = gitCLIErr(r.Dir(), "-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile="+allowed, "verify-commit", h.String())
			assert.Error(t, err, "a signature by an untrusted key does not verify")
			otherFile := filepath.Join(dir, "other-trusted.pub")
			require.NoError(t, os.WriteFile(otherFile, otherPub, 0o644))
			v, err = NewSSHVerifier(otherFile)
			require.NoError(t, err)
			err = v.Verify(c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "not a trusted key")
		})
	}
}

func TestOpenPGPSignedCommitsVerifyWithGit(t *testing.T) {
	dir := t.TempDir()
	entity, err := openpgp.NewEntity("bindsync", "", DefaultAuthorEmail, nil)
	require.NoError(t, err)
	keyFile := filepath.Join(dir, "key.asc")
	var priv bytes.Buffer
	w, err := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, entity.SerializePrivate(w, nil))
	require.NoError(t, w.Close())
	require.NoError(t, os.WriteFile(keyFile, priv.Bytes(), 0o600))

	signer, err := NewOpenPGPSignerFromFile(keyFile)
	require.NoError(t, err)
	r := openRepo(t, Options{Dir: filepath.Join(dir, "state.git"), Signer: signer})
	h, _, err := r.Commit(plumbing.ZeroHash, sampleTree("c1"), bindMessage("c1", "pg"))
	require.NoError(t, err)

	// go-git's own verification
	var pub bytes.Buffer
	pw, err := armor.Encode(&pub, openpgp.PublicKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, entity.Serialize(pw))
	require.NoError(t, pw.Close())
	c, err := r.commitObject(h)
	require.NoError(t, err)
	signedBy, err := c.Verify(pub.String())
	require.NoError(t, err)
	assert.Equal(t, entity.PrimaryKey.KeyId, signedBy.PrimaryKey.KeyId)

	// and git's, through gpg with the public key imported
	home := filepath.Join(dir, "gnupg")
	require.NoError(t, os.MkdirAll(home, 0o700))
	imp := exec.Command("gpg", "--batch", "--import")
	imp.Env = append(os.Environ(), "GNUPGHOME="+home)
	imp.Stdin = strings.NewReader(pub.String())
	out, err := imp.CombinedOutput()
	require.NoError(t, err, string(out))
	verify := exec.Command("git", "verify-commit", "-v", h.String())
	verify.Dir = r.Dir()
	verify.Env = append(os.Environ(), "GNUPGHOME="+home, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err = verify.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "Good signature from \"bindsync <"+DefaultAuthorEmail+">\"")
}

func TestSignerConstructorsRefuseBadKeys(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	require.NoError(t, os.WriteFile(junk, []byte("not a key"), 0o600))
	_, err := NewSSHSigner(junk)
	assert.ErrorContains(t, err, junk)
	_, err = NewSSHSigner(filepath.Join(dir, "missing"))
	assert.ErrorContains(t, err, "missing")
	_, err = NewOpenPGPSignerFromFile(junk)
	assert.ErrorContains(t, err, junk)
	_, err = NewOpenPGPSigner(nil)
	assert.Error(t, err)
}
