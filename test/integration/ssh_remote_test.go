package integration

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	agentcmd "github.com/bindsync/bindsync/internal/cli/agent"
	"github.com/bindsync/bindsync/internal/testenv"
	"github.com/bindsync/bindsync/internal/testutil/sshgit"
)

// agentCommandArgs runs `bindsync agent` with args (and no metrics or probe
// listeners) until the test ends.
func agentCommandArgs(t *testing.T, args ...string) *syncBuffer {
	logs := &syncBuffer{}
	cmd := agentcmd.NewCommand(io.Discard, logs)
	cmd.SetArgs(append([]string{"--metrics-bind-address", "0", "--health-probe-bind-address", "0"}, args...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("bindsync agent did not stop")
		}
	})
	return logs
}

// TestIntegrationSSHRemote runs `bindsync backend` and `bindsync agent`
// through their flags against an ssh:// state repository (git's own
// upload-pack and receive-pack behind an ssh server that accepts one key):
// the backend pushes a bind over ssh with --git-ssh-key-file and
// --git-known-hosts-file, and the agent, with its deprecated --ssh-key-file and
// --known-hosts-file, pulls it and establishes the CRD, its binding Ready at
// the remote's head. The known_hosts files list only the server's ed25519
// key, as forges document theirs.
func TestIntegrationSSHRemote(t *testing.T) {
	cp := startBackendControlPlane(t)
	app := testenv.Start(t, testenv.AppName)
	ctx := testContext(t)
	require.NoError(t, app.WaitEstablished(ctx, installBindsyncCRDs(ctx, t, app)...))

	root := t.TempDir()
	bare := filepath.Join(root, "state.git")
	runGit(t, "", "init", "-q", "--bare", "-b", "main", bare)
	srv := sshgit.Start(t, root)
	knownHosts := filepath.Join(t.TempDir(), "known_hosts")
	srv.KnownHosts(t, knownHosts, srv.HostKeys[0])
	url := srv.URL("state.git")

	backendLogs := backendCommand(t, cp, filepath.Join(t.TempDir(), "cache"), "--repo", url,
		"--git-ssh-key-file", srv.ClientKeyFile, "--git-known-hosts-file", knownHosts, "--interval", "1s")
	const cluster = "ssh"
	agentLogs := agentCommandArgs(t, "--kubeconfig", app.WriteKubeconfig(t), "--cluster", cluster, "--repo", url,
		"--ssh-key-file", srv.ClientKeyFile, "--known-hosts-file", knownHosts, "--interval", "1s")
	logs := func() string { return "backend:\n" + backendLogs.String() + "\nagent:\n" + agentLogs.String() }

	e := &backendEnv{t: t, cp: cp, remote: bare}
	const wait, tick = 60 * time.Second, 200 * time.Millisecond
	e.create(&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster}})
	e.template("pg-ssh", "postgresqlinstances", v1alpha1.ApprovalAutomatic)
	require.Eventually(t, func() bool { return e.exists(&corev1.Namespace{}, "", v1alpha1.ClusterNamespace(cluster)) }, wait, tick,
		"the cluster's folder is pushed over ssh and applied; logs:\n%s", logs())
	e.request(cluster, "pg", "pg-ssh")
	require.Eventually(t, func() bool {
		return requestCondition(e.getRequest(cluster, "pg"), v1alpha1.ReadyCondition).Status == metav1.ConditionTrue
	}, wait, tick, "the bind is pushed over ssh; logs:\n%s", logs())
	head := e.head("main")
	require.NotEmpty(t, head)
	assert.Equal(t, "bind: ssh <- pg-ssh", e.subjects()[0])

	createBinding(ctx, t, app, backendPGCRD, "")
	require.Eventually(t, func() bool {
		b := getBinding(ctx, t, app, backendPGCRD)
		c := condition(b, v1alpha1.ReadyCondition)
		return c != nil && c.Status == metav1.ConditionTrue && b.Status.LastAppliedRevision == "main@sha1:"+head
	}, wait, tick, "the agent pulls over ssh and applies; logs:\n%s", logs())
	crd, err := getCRD(ctx, t, app, backendPGCRD)
	require.NoError(t, err)
	assert.Equal(t, cluster, crd.Labels[v1alpha1.ClusterLabel])
	require.NoError(t, app.WaitEstablished(ctx, backendPGCRD))
	assert.Zero(t, srv.Refused(), "the server accepted the configured key every time")
	all, uploads := srv.Commands()
	assert.Positive(t, all-uploads, "the backend pushed with receive-pack over ssh")
	runGit(t, "", "--git-dir", bare, "fsck", "--strict")
}
