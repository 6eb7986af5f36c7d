package integration

import (
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/bindsync/bindsync/internal/testenv"
)

// agentProcess is `bindsync agent` running as a process of its own.
type agentProcess struct {
	name string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

// startAgentProcess runs the binary for cluster with leader election on
// short timings in bindsync-system, reading url every second, until the test
// ends (or stop).
func startAgentProcess(t *testing.T, bin, name, kubeconfig, cluster, url string) *agentProcess {
	p := &agentProcess{name: name, logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "agent", "--kubeconfig", kubeconfig, "--cluster", cluster, "--repo", url, "--interval", "1s",
		"--leader-elect=true", "--leader-election-namespace", "bindsync-system", "--leader-election-lease-duration", "4s",
		"--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "500ms",
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t, syscall.SIGKILL) })
	return p
}

// stop sends sig (SIGKILL: it cannot release its lease; SIGTERM: a rolling
// update) and waits for the process to end.
func (p *agentProcess) stop(t *testing.T, sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("agent %s (pid %d) did not end", p.name, p.cmd.Process.Pid)
	}
}

// leads reports whether the process started its reconciler, which only the
// lease holder does: the reconciler is the agent's only writer.
func (p *agentProcess) leads() bool {
	return strings.Contains(p.logs.String(), `"msg":"Starting workers"`)
}

func agentLeaseHolder(t *testing.T, app *testenv.Cluster, cluster string) string {
	cs, err := kubernetes.NewForConfig(app.Config)
	require.NoError(t, err)
	lease, err := cs.CoordinationV1().Leases("bindsync-system").Get(context.Background(), "bindsync-agent-"+cluster, metav1.GetOptions{})
	if err != nil || lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// TestIntegrationAgentLeaderElection runs two `bindsync agent` processes for
// one cluster on one API server: only the lease holder runs the reconciler
// (applies CRDs, writes binding status); killed, it is replaced by the other,
// which applies the next commit. A replica stopped gracefully (SIGTERM, as in
// a rolling update) releases the lease as it ends, so its successor does not
// wait for the lease to expire.
func TestIntegrationAgentLeaderElection(t *testing.T) {
	ctx, app := setupAgentTest(t)
	bin := buildBindsync(t)
	require.NoError(t, app.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bindsync-system"}}))
	const cluster = "agent-leader"
	k := testKind{plural: "leads", kind: "Lead", group: "leader.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	repo := newStateRepo(t)
	rev1 := repo.commit(appFolder(cluster, []testKind{k}, nil))
	createBinding(ctx, t, app, k.name(), "")
	kc := app.WriteKubeconfig(t)
	procs := []*agentProcess{
		startAgentProcess(t, bin, "a", kc, cluster, repo.url()),
		startAgentProcess(t, bin, "b", kc, cluster, repo.url()),
	}
	allLogs := func() string {
		var b strings.Builder
		for _, p := range procs {
			b.WriteString(p.name + ":\n" + p.logs.String() + "\n")
		}
		return b.String()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agents' logs:\n%s", allLogs())
		}
	})
	const wait, tick = 60 * time.Second, 100 * time.Millisecond
	appliedAt := func(rev string) func() bool {
		return func() bool {
			b := getBinding(ctx, t, app, k.name())
			c := condition(b, "Ready")
			return c != nil && c.Status == metav1.ConditionTrue && b.Status.LastAppliedRevision == rev
		}
	}
	require.Eventually(t, appliedAt(rev1), wait, tick, "one agent applies")

	var leader, follower *agentProcess
	switch {
	case procs[0].leads() && !procs[1].leads():
		leader, follower = procs[0], procs[1]
	case procs[1].leads() && !procs[0].leads():
		leader, follower = procs[1], procs[0]
	default:
		require.Failf(t, "exactly one agent runs the reconciler", "a: %v, b: %v", procs[0].leads(), procs[1].leads())
	}
	holder := agentLeaseHolder(t, app, cluster)
	require.NotEmpty(t, holder, "the lease bindsync-system/bindsync-agent-%s is held", cluster)
	time.Sleep(3 * time.Second) // several intervals: the follower still waits
	assert.False(t, follower.leads(), "the follower never runs the reconciler while the leader lives")

	t.Run("the leader killed: the other takes over and applies the next commit", func(t *testing.T) {
		leader.stop(t, syscall.SIGKILL)
		k2 := k
		k2.fields = map[string]string{"a": "string", "b": "integer"}
		rev2 := repo.commit(appFolder(cluster, []testKind{k2}, nil))
		require.Eventually(t, appliedAt(rev2), wait, tick, "the follower takes the lease over")
		assert.True(t, follower.leads())
		assert.NotEqual(t, holder, agentLeaseHolder(t, app, cluster), "the lease changed hands")
		crd, err := getCRD(ctx, t, app, k.name())
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, keysOf(crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties))
	})

	t.Run("the leader stopped gracefully: it releases the lease as it ends", func(t *testing.T) {
		third := startAgentProcess(t, bin, "c", kc, cluster, repo.url())
		procs = append(procs, third)
		current := agentLeaseHolder(t, app, cluster)
		require.NotEmpty(t, current)
		follower.stop(t, syscall.SIGTERM)
		assert.NotEqual(t, current, agentLeaseHolder(t, app, cluster),
			"the stopped leader no longer holds the lease (released, or already taken over)")
		k3 := k
		k3.fields = map[string]string{"a": "string", "b": "integer", "c": "string"}
		rev3 := repo.commit(appFolder(cluster, []testKind{k3}, nil))
		require.Eventually(t, appliedAt(rev3), wait, tick, "the third replica takes over")
		assert.True(t, third.leads())
	})
}
