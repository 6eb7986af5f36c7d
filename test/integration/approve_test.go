package integration

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/tools/record"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/cli/approve"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// approveCLI runs `bindsync approve args...` in the test's process.
func approveCLI(args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	cmd := approve.NewCommand(&out, &errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

// sshSigningKey writes an ed25519 private key (as ssh-keygen writes it)
// and its public key in authorized_keys form; it returns both files.
func sshSigningKey(t *testing.T) (private, public string) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	block, err := ssh.MarshalPrivateKey(priv, "approver")
	require.NoError(t, err)
	sshPub, err := ssh.NewPublicKey(pub)
	require.NoError(t, err)
	dir := t.TempDir()
	private, public = filepath.Join(dir, "approver"), filepath.Join(dir, "approver.pub")
	require.NoError(t, os.WriteFile(private, pem.EncodeToMemory(block), 0o600))
	require.NoError(t, os.WriteFile(public, ssh.MarshalAuthorizedKey(sshPub), 0o600))
	return private, public
}

// TestIntegrationApproveShowsRefusesAndSigns runs bindsync approve on
// branches a real backend built: a branch that someone amended to reach
// into another cluster's folder and outside clusters/ is refused naming
// those paths, main untouched; the backend's own branch is shown (commit,
// paths) and merged with --signing-key-file, and an agent running with
// that public key as its only trusted key applies the approved head after
// refusing the unsigned one before it; a real schema branch is in scope.
func TestIntegrationApproveShowsRefusesAndSigns(t *testing.T) {
	ctx := testContext(t)
	cp := startBackendControlPlane(t)
	e := newBackendEnv(t, cp)
	const cluster = "ap1"
	e.world(cluster, "ap-manual", v1alpha1.ApprovalManual)
	e.world("ap2", "ap-manual", v1alpha1.ApprovalManual)
	e.request(cluster, "pg", "ap-manual")
	e.reconcile()
	branch := staterepo.ApproveBranch(cluster, "pg")
	require.NotEmpty(t, e.head(branch), "the backend pushed the approval branch")
	approver := "Ada <ada@example.com>"

	t.Run("a branch amended beyond its cluster is refused, naming the paths", func(t *testing.T) {
		before := e.head("main")
		dir := e.clone()
		runGit(t, dir, "checkout", "-q", "-b", "tampered", "origin/"+branch)
		for p, c := range map[string]string{
			"clusters/ap2/control-plane/rbac.yaml":  "kind: Role\n",
			"clusters/ap1/control-plane/extra.yaml": "kind: Role\n",
			"ci.yaml":                               "x: 1\n",
		} {
			require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644))
		}
		runGit(t, dir, "add", "-A")
		runGit(t, dir, "commit", "-q", "--amend", "--no-edit")
		runGit(t, dir, "push", "-q", "-f", "origin", "tampered:"+branch)

		_, stderr, err := approveCLI(branch, "--repo", e.remote, "--approver", approver)
		var coded *exitcode.Error
		require.True(t, errors.As(err, &coded), "%v", err)
		assert.Equal(t, exitcode.Problems, coded.Code)
		for _, p := range []string{"M clusters/ap2/control-plane/rbac.yaml", "A clusters/ap1/control-plane/extra.yaml", "A ci.yaml"} {
			assert.Contains(t, stderr, p, "shown before the refusal")
		}
		for _, p := range []string{"clusters/ap2/control-plane/rbac.yaml (modified)", "clusters/ap1/control-plane/extra.yaml (added)", "ci.yaml (added)"} {
			assert.ErrorContains(t, err, p)
		}
		assert.Equal(t, before, e.head("main"), "main is untouched")
	})

	_, app := setupAgentTest(t)
	private, public := sshSigningKey(t)
	verifier, err := source.NewVerifier(public)
	require.NoError(t, err)
	src, err := source.New(source.Options{URL: "file://" + e.remote, Dir: staterepo.AppDir(cluster), Verifier: verifier})
	require.NoError(t, err)
	createBinding(ctx, t, app, backendPGCRD, "")
	ag, err := agent.New(app.Config, app.Client, src, agent.Options{Cluster: cluster, Events: record.NewFakeRecorder(100), WaitEstablished: 30 * time.Second})
	require.NoError(t, err)

	t.Run("the backend's branch is shown, merged signed, and a verifying agent applies it", func(t *testing.T) {
		_, err := ag.Sync(ctx)
		require.ErrorIs(t, err, source.ErrSignatureInvalid, "the backend's unsigned head is refused by this agent")

		e.reconcile() // the backend rebuilds the branch it owns
		stdout, stderr, err := approveCLI(branch, "--repo", e.remote, "--approver", approver, "--signing-key-file", private)
		require.NoError(t, err, stderr)
		head := e.head("main")
		assert.Equal(t, "main@sha1:"+head+"\n", stdout)
		assert.Contains(t, stderr, "approving "+branch+": 1 commit on main@sha1:")
		assert.Contains(t, stderr, "A "+staterepo.ExportPath(cluster, backendPGCRD))
		assert.Contains(t, stderr, "A "+staterepo.CRDPath(cluster, backendPGCRD))
		assert.Contains(t, stderr, "(signed)")

		_, err = ag.Sync(ctx)
		require.NoError(t, err, "an agent trusting only the approver's key applies the approved head")
		b := getBinding(ctx, t, app, backendPGCRD)
		assert.Equal(t, "main@sha1:"+head, b.Status.LastAppliedRevision)
	})

	t.Run("a real schema branch is in scope", func(t *testing.T) {
		e.reconcile()
		editCRD(t, cp.Client, func(spec *apiextensionsv1.JSONSchemaProps) { delete(spec.Properties, "expose") })
		e.reconcile()
		branches := strings.TrimSpace(runGit(t, "", "--git-dir", e.remote, "branch", "--list", staterepo.SchemaBranchPrefix+"*"))
		require.NotEmpty(t, branches, "the breaking change waits on a schema branch")
		schema := strings.TrimSpace(strings.TrimPrefix(branches, "*"))
		_, stderr, err := approveCLI(schema, "--repo", e.remote, "--approver", approver)
		require.NoError(t, err, stderr)
		assert.Contains(t, stderr, "M "+staterepo.CRDPath(cluster, backendPGCRD))
	})
}
