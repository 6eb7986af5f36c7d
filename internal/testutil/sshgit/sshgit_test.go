package sshgit_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	_ "github.com/bindsync/bindsync/internal/testutil/golden" // go test ./... -update
	"github.com/bindsync/bindsync/internal/testutil/sshgit"
)

func git(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append(env, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func newServer(t *testing.T) (*sshgit.Server, string) {
	root := t.TempDir()
	bare := filepath.Join(root, "state.git")
	_, err := git(t, root, nil, "init", "-q", "--bare", "-b", "main", bare)
	require.NoError(t, err)
	return sshgit.Start(t, root), bare
}

// dial connects as user with key, checking the server's ed25519 host key.
func dial(t *testing.T, s *sshgit.Server, user string, key ssh.Signer) (*ssh.Client, error) {
	t.Helper()
	return ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{User: user, Auth: []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(s.HostKeys[0]), HostKeyAlgorithms: []string{ssh.KeyAlgoED25519}})
}

func signer(t *testing.T, path string) ssh.Signer {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	k, err := ssh.ParsePrivateKey(b)
	require.NoError(t, err)
	return k
}

// TestOpenSSHClientPushesAndClones proves the server speaks ssh as git's
// own client (OpenSSH) expects: a push and a clone through it, with the
// host key checked strictly against KnownHostsFile.
func TestOpenSSHClientPushesAndClones(t *testing.T) {
	sshBin, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("no OpenSSH client on this machine; the go-git client is tested in internal/git and internal/agent/source")
	}
	s, bare := newServer(t)
	env := []string{"GIT_SSH_COMMAND=" + sshBin + " -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -i " + s.ClientKeyFile +
		" -o StrictHostKeyChecking=yes -o UserKnownHostsFile=" + s.KnownHostsFile}
	work := t.TempDir()
	_, err = git(t, work, nil, "init", "-q", "-b", "main", ".")
	require.NoError(t, err)
	_, err = git(t, work, nil, "commit", "-q", "--allow-empty", "-m", "first")
	require.NoError(t, err)
	out, err := git(t, work, env, "push", "-q", s.URL("state.git"), "main")
	require.NoError(t, err, out)
	head, err := git(t, bare, nil, "rev-parse", "main")
	require.NoError(t, err)

	clone := filepath.Join(t.TempDir(), "clone")
	out, err = git(t, work, env, "clone", "-q", s.URL("/state.git"), clone)
	require.NoError(t, err, out)
	got, err := git(t, clone, nil, "rev-parse", "HEAD")
	require.NoError(t, err)
	assert.Equal(t, head, got)
	all, uploads := s.Commands()
	assert.Equal(t, int64(2), all, "one receive-pack, one upload-pack")
	assert.Equal(t, int64(1), uploads)
}

func TestServerRefuses(t *testing.T) {
	s, _ := newServer(t)
	t.Run("a key it does not know", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "stranger")
		sshgit.WriteKey(t, path)
		before := s.Refused()
		_, err := dial(t, s, sshgit.User, signer(t, path))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "unable to authenticate")
		assert.Greater(t, s.Refused(), before)
	})
	t.Run("the right key for another user", func(t *testing.T) {
		_, err := dial(t, s, "root", signer(t, s.ClientKeyFile))
		require.Error(t, err)
		assert.Contains(t, err.Error(), "unable to authenticate")
	})
	for name, command := range map[string]string{
		"a shell command":               "sh -c id",
		"a path outside its root":       "git-upload-pack '../../etc'",
		"a repository it does not have": "git-upload-pack 'missing.git'",
		"an unquoted path":              "git-upload-pack state.git",
	} {
		t.Run(name, func(t *testing.T) {
			c, err := dial(t, s, sshgit.User, signer(t, s.ClientKeyFile))
			require.NoError(t, err)
			defer c.Close()
			sess, err := c.NewSession()
			require.NoError(t, err)
			var stderr bytes.Buffer
			sess.Stderr = &stderr
			err = sess.Run(command)
			var exit *ssh.ExitError
			require.ErrorAs(t, err, &exit)
			assert.Equal(t, 128, exit.ExitStatus())
			assert.Contains(t, stderr.String(), "sshgit:")
		})
	}
	t.Run("nothing while down", func(t *testing.T) {
		s.SetDown(true)
		_, err := dial(t, s, sshgit.User, signer(t, s.ClientKeyFile))
		assert.Error(t, err)
		s.SetDown(false)
		c, err := dial(t, s, sshgit.User, signer(t, s.ClientKeyFile))
		require.NoError(t, err)
		c.Close()
	})
}
