package integration

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/testenv"
)

// buildBindsync builds the bindsync binary into a temporary folder, as it ships.
func buildBindsync(t *testing.T) string {
	bin, err := testenv.BuildBindsync(t.TempDir())
	require.NoError(t, err)
	return bin
}

// backendProcess is `bindsync backend` running as a process of its own.
type backendProcess struct {
	name  string
	cmd   *exec.Cmd
	cache string
	logs  *syncBuffer
	done  chan struct{}
}

// startBackendProcess runs the binary with leader election on short timings,
// against the remote at url, until the test ends (or kill).
func startBackendProcess(t *testing.T, bin, name, kubeconfig, url string) *backendProcess {
	p := &backendProcess{name: name, cache: filepath.Join(t.TempDir(), "cache"), logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "backend", "--kubeconfig", kubeconfig, "--repo", url, "--data-dir", p.cache,
		"--leader-elect=true", "--leader-election-lease-duration", "4s", "--leader-election-renew-deadline", "3s",
		"--leader-election-retry-period", "500ms", "--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--interval", "1s")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill(t) })
	return p
}

// kill ends the process at once (SIGKILL): it cannot release its lease.
func (p *backendProcess) kill(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("backend %s (pid %d) did not end", p.name, p.cmd.Process.Pid)
	}
}

// committed reports whether the process wrote a commit.
func (p *backendProcess) committed() bool {
	return strings.Contains(p.logs.String(), `"msg":"committed"`)
}

func leaseHolder(t *testing.T, cp *testenv.Cluster) string {
	cs, err := kubernetes.NewForConfig(cp.Config)
	require.NoError(t, err)
	var lease *coordinationv1.Lease
	lease, err = cs.CoordinationV1().Leases("bindsync-system").Get(context.Background(), "bindsync-backend", metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// TestIntegrationBackendLeaderElection runs two `bindsync backend` processes
// against one API server and one remote: only the one holding the lease
// reconciles and commits; when it is killed, the other takes the lease over
// and binds what comes next, and no bind is committed twice.
func TestIntegrationBackendLeaderElection(t *testing.T) {
	cp := startBackendControlPlane(t)
	bin := buildBindsync(t)
	bare := filepath.Join(t.TempDir(), "state.git")
	runGit(t, "", "init", "-q", "--bare", "-b", "main", bare)
	e := &backendEnv{t: t, cp: cp, remote: bare}
	e.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bindsync-system"}})
	kc := cp.WriteKubeconfig(t)
	procs := []*backendProcess{
		startBackendProcess(t, bin, "a", kc, "file://"+bare),
		startBackendProcess(t, bin, "b", kc, "file://"+bare),
	}
	const wait, tick = 60 * time.Second, 200 * time.Millisecond
	bothLogs := func() string { return "a:\n" + procs[0].logs.String() + "\nb:\n" + procs[1].logs.String() }

	e.template("pg-le", "postgresqlinstances", v1alpha1.ApprovalAutomatic)
	e.create(&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "le-1"}})
	require.Eventually(t, func() bool { return e.exists(&corev1.Namespace{}, "", v1alpha1.ClusterNamespace("le-1")) }, wait, tick,
		"one backend commits and applies the cluster's folder; logs:\n%s", bothLogs())
	e.request("le-1", "pg", "pg-le")
	require.Eventually(t, func() bool {
		return requestCondition(e.getRequest("le-1", "pg"), v1alpha1.ReadyCondition).Status == metav1.ConditionTrue
	}, wait, tick, "request Ready; logs:\n%s", bothLogs())

	var leader, follower *backendProcess
	switch {
	case procs[0].committed() && !procs[1].committed():
		leader, follower = procs[0], procs[1]
	case procs[1].committed() && !procs[0].committed():
		leader, follower = procs[1], procs[0]
	default:
		require.Failf(t, "exactly one backend commits", "a committed: %v, b committed: %v; logs:\n%s",
			procs[0].committed(), procs[1].committed(), bothLogs())
	}
	holder := leaseHolder(t, cp)
	require.NotEmpty(t, holder, "the lease bindsync-system/bindsync-backend is held")
	_, err := exec.Command("git", "--git-dir", follower.cache, "rev-parse", "--verify", "-q", "refs/heads/main").Output()
	assert.Error(t, err, "the follower never even fetched the state repository")
	require.Contains(t, leader.logs.String(), `"msg":"Starting workers"`, "the leader runs the reconciler")
	assert.NotContains(t, follower.logs.String(), `"msg":"Starting workers"`, "the follower runs no reconciler")

	leader.kill(t)
	e.create(&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "le-2"}})
	require.Eventually(t, func() bool { return e.exists(&corev1.Namespace{}, "", v1alpha1.ClusterNamespace("le-2")) }, wait, tick,
		"the follower takes the lease over; logs:\n%s", bothLogs())
	e.request("le-2", "pg", "pg-le")
	require.Eventually(t, func() bool {
		return requestCondition(e.getRequest("le-2", "pg"), v1alpha1.ReadyCondition).Status == metav1.ConditionTrue
	}, wait, tick, "the new leader binds; logs:\n%s", bothLogs())

	assert.True(t, follower.committed(), "the new leader committed")
	assert.NotEqual(t, holder, leaseHolder(t, cp), "the lease changed hands")
	counts := map[string]int{}
	for _, s := range e.subjects() {
		counts[s]++
	}
	assert.Equal(t, 1, counts["bind: le-1 <- pg-le"], "subjects: %v", e.subjects())
	assert.Equal(t, 1, counts["bind: le-2 <- pg-le"], "subjects: %v", e.subjects())
	assert.Equal(t, "main@sha1:"+e.head("main"), e.getRequest("le-2", "pg").Status.Revision)
	ready := requestCondition(e.getRequest("le-1", "pg"), v1alpha1.ReadyCondition)
	assert.Equal(t, metav1.ConditionTrue, ready.Status, "the first request stays Ready under the new leader: %s", ready.Message)
}
