package source_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/agent/source"
)

// sshKey makes an ed25519 key pair with ssh-keygen and returns the private
// key's path (the public key is path + ".pub").
func sshKey(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", p).CombinedOutput()
	if err != nil {
		t.Skipf("ssh-keygen unavailable: %v %s", err, out)
	}
	return p
}

// gitCommitSSH commits with git's own SSH signing (gpg.format=ssh).
func gitCommitSSH(t *testing.T, dir, key string) {
	t.Helper()
	cmd := exec.Command("git", "-C", dir, "-c", "gpg.format=ssh", "-c", "user.signingkey="+key+".pub",
		"-c", "user.name=t", "-c", "user.email=t@localhost", "commit", "-q", "-S", "--allow-empty", "-m", "signed")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
}

func TestSSHSignatureVerification(t *testing.T) {
	trusted, other := sshKey(t, "trusted"), sshKey(t, "other")
	verifier, err := source.NewVerifier(trusted + ".pub")
	require.NoError(t, err)

	tests := []struct {
		name  string
		key   string // "" for an unsigned commit
		valid bool
	}{
		{"head signed by a trusted SSH key is exposed", trusted, true},
		{"head signed by another SSH key is refused", other, false},
		{"unsigned head is refused", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := newTestRepo(t)
			repo.commit(map[string]string{"f": "x"}, nil)
			if tt.key != "" {
				gitCommitSSH(t, repo.dir, tt.key)
			} else {
				repo.commit(map[string]string{"f": "y"}, nil)
			}
			src, err := source.New(source.Options{URL: repo.url(), Verifier: verifier})
			require.NoError(t, err)
			_, _, err = src.Get(context.Background())
			if tt.valid {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, source.ErrSignatureInvalid)
			}
		})
	}
}

func TestNewVerifierRefusesWhatIsNoKey(t *testing.T) {
	_, err := source.NewVerifier(filepath.Join(t.TempDir(), "missing"))
	assert.Error(t, err)
	notAKey := filepath.Join(t.TempDir(), "junk")
	require.NoError(t, writeFile(notAKey, "hello\n"))
	_, err = source.NewVerifier(notAKey)
	assert.ErrorContains(t, err, "not an SSH public key")
}
