package integration

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/git"
)

// TestIntegrationBackendSignsCommits runs `bindsync backend` with
// --signing-key-file in both formats and checks every commit it wrote with
// `git verify-commit`, trusting only the key given.
func TestIntegrationBackendSignsCommits(t *testing.T) {
	cp := startBackendControlPlane(t)
	cases := []struct {
		format string
		// key writes a private key file into dir and returns its path and
		// the git config and environment that make verify-commit trust it.
		key  func(t *testing.T, dir string) (file string, verify []string, env []string)
		good string
	}{
		{format: "ssh", good: `Good "git" signature for ` + git.DefaultAuthorEmail,
			key: func(t *testing.T, dir string) (string, []string, []string) {
				key := filepath.Join(dir, "signing")
				out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bindsync", "-f", key).CombinedOutput()
				require.NoError(t, err, string(out))
				pub, err := os.ReadFile(key + ".pub")
				require.NoError(t, err)
				allowed := filepath.Join(dir, "allowed_signers")
				require.NoError(t, os.WriteFile(allowed, []byte(git.DefaultAuthorEmail+" "+string(pub)), 0o644))
				return key, []string{"-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile=" + allowed}, nil
			}},
		{format: "openpgp", good: `Good signature from "bindsync <` + git.DefaultAuthorEmail + `>"`,
			key: func(t *testing.T, dir string) (string, []string, []string) {
				entity, err := openpgp.NewEntity("bindsync", "", git.DefaultAuthorEmail, nil)
				require.NoError(t, err)
				key := filepath.Join(dir, "signing.asc")
				var priv, pub bytes.Buffer
				w, err := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
				require.NoError(t, err)
				require.NoError(t, entity.SerializePrivate(w, nil))
				require.NoError(t, w.Close())
				require.NoError(t, os.WriteFile(key, priv.Bytes(), 0o600))
				w, err = armor.Encode(&pub, openpgp.PublicKeyType, nil)
				require.NoError(t, err)
				require.NoError(t, entity.Serialize(w))
				require.NoError(t, w.Close())
				home := filepath.Join(dir, "gnupg")
				require.NoError(t, os.Mkdir(home, 0o700))
				imp := exec.Command("gpg", "--batch", "--import")
				imp.Env = append(os.Environ(), "GNUPGHOME="+home)
				imp.Stdin = &pub
				out, err := imp.CombinedOutput()
				require.NoError(t, err, string(out))
				return key, nil, []string{"GNUPGHOME=" + home}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.format, func(t *testing.T) {
			dir := t.TempDir()
			key, verify, env := tc.key(t, dir)
			dataDir := filepath.Join(dir, "data")
			cluster, tpl := "sign-"+tc.format, "pg-sign-"+tc.format
			logs := backendCommand(t, cp, dataDir, "--signing-key-file", key, "--signing-key-format", tc.format)
			e := &backendEnv{t: t, cp: cp, remote: dataDir}
			e.create(&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster}})
			e.template(tpl, "postgresqlinstances", v1alpha1.ApprovalAutomatic)
			require.Eventually(t, func() bool { return e.exists(&corev1.Namespace{}, "", v1alpha1.ClusterNamespace(cluster)) },
				30*time.Second, 200*time.Millisecond, "the backend commits and applies the cluster's folder; logs:\n%s", logs)
			e.request(cluster, "pg", tpl)
			require.Eventually(t, func() bool {
				return requestCondition(e.getRequest(cluster, "pg"), v1alpha1.ReadyCondition).Status == metav1.ConditionTrue
			}, 30*time.Second, 200*time.Millisecond, "request Ready; logs:\n%s", logs)

			commits := strings.Fields(runGit(t, "", "--git-dir", dataDir, "rev-list", "--all"))
			require.GreaterOrEqual(t, len(commits), 2, "the cluster's folder and the bind")
			for _, c := range commits {
				cmd := exec.Command("git", append(append([]string{"--git-dir", dataDir}, verify...), "verify-commit", "-v", c)...)
				cmd.Env = append(os.Environ(), append(env, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")...)
				out, err := cmd.CombinedOutput()
				if assert.NoError(t, err, "git verify-commit %s: %s", c, out) {
					assert.Contains(t, string(out), tc.good)
				}
			}
		})
	}
}
