package agentbench

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// BenchmarkColdSync compares the agent's first pass over a state repository
// of 211 bound CRDs (the 11 Klutch CRDs and 200 synthetic ones, rendered by
// internal/render for one cluster, pushed to a bare repository read over
// file://) with `kubectl apply --server-side -f <the same CRD files>` plus
// `kubectl wait --for=condition=Established` on an equal fresh API server.
//
// Each iteration starts two fresh app API servers with bindsync's CRDs and a
// binding per CRD (not timed), then times, in turn (the order alternates
// between iterations):
//
//   - agent: agent.New and one Agent.Sync in this process, configured from a
//     kubeconfig file as `bindsync agent` is, until every CRD is Established;
//   - kubectl: the two kubectl processes, start to exit.
//
// ns/op is the agent's time; agent-s, kubectl-s and agent/kubectl are
// reported per iteration (the mean over iterations).
func BenchmarkColdSync(b *testing.B) {
	ctx := context.Background()
	crds := benchCRDs(b, syntheticCRDs)
	names := crdNames(crds)
	tree := renderTree(b, renderInput(crds))
	remote := newGitRemote(b)
	remote.commit(tree, "state")
	remote.push()
	crdDir := filepath.Join(b.TempDir(), "crds")
	writeTree(b, crdDir, tree, appCRDFiles(tree))
	crdFiles := filepath.Join(crdDir, filepath.FromSlash(staterepo.AppDir(benchCluster)), "crds")
	kubectl := kubectlPath(b)

	var agentTotal, kubectlTotal time.Duration
	i := 0
	for b.Loop() {
		b.StopTimer()
		agentApp, kubectlApp := newApps(ctx, b)
		createBindings(ctx, b, agentApp, names)
		createBindings(ctx, b, kubectlApp, names)

		runAgent := func() {
			b.StartTimer()
			begin := time.Now()
			coldSyncAgent(ctx, b, agentApp, remote.url(), names)
			agentTotal += time.Since(begin)
			b.StopTimer()
		}
		runKubectl := func() {
			begin := time.Now()
			coldSyncKubectl(b, kubectl, kubectlApp, crdFiles)
			kubectlTotal += time.Since(begin)
			require.NoError(b, kubectlApp.WaitEstablished(ctx, names...))
		}
		if i%2 == 0 {
			runAgent()
			runKubectl()
		} else {
			runKubectl()
			runAgent()
		}
		i++
		stopNow(b, agentApp, kubectlApp)
		b.StartTimer() // b.Loop must be called with the timer running
	}
	n := float64(i)
	b.ReportMetric(agentTotal.Seconds()/n, "agent-s")
	b.ReportMetric(kubectlTotal.Seconds()/n, "kubectl-s")
	b.ReportMetric(agentTotal.Seconds()/kubectlTotal.Seconds(), "agent/kubectl")
	b.ReportMetric(float64(len(names)), "crds")
	b.Logf("cold sync of %d CRDs over %d iteration(s): agent %s, kubectl %s, ratio %.2f (target at most 1.0); %s",
		len(names), i, (agentTotal / time.Duration(i)).Round(time.Millisecond), (kubectlTotal / time.Duration(i)).Round(time.Millisecond),
		agentTotal.Seconds()/kubectlTotal.Seconds(), uptime())
}

// coldSyncAgent runs the agent's first pass and waits until every CRD is
// Established (the pass itself waits for it; the check confirms it).
func coldSyncAgent(ctx context.Context, b *testing.B, app *appServer, url string, names []string) {
	cfg := agent.ClientConfig(kubeconfigConfig(b, app.WriteKubeconfig(b))) // as NewManager does
	src, err := source.New(source.Options{URL: url, Dir: staterepo.AppDir(benchCluster)})
	require.NoError(b, err)
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	require.NoError(b, err)
	a, err := agent.New(cfg, c, src, agent.Options{Cluster: benchCluster, WaitEstablished: 2 * time.Minute})
	require.NoError(b, err)
	res, err := a.Sync(ctx)
	require.NoError(b, err)
	require.Len(b, res.Applied.Created, len(names))
	require.NoError(b, app.WaitEstablished(ctx, names...))
}

// coldSyncKubectl applies the CRD files with kubectl and waits for them.
func coldSyncKubectl(b *testing.B, kubectl string, app *appServer, dir string) {
	kc := app.WriteKubeconfig(b)
	for _, args := range [][]string{
		{"apply", "--server-side", "-f", dir},
		{"wait", "--for=condition=Established", "--timeout=5m", "-f", dir},
	} {
		out, err := exec.Command(kubectl, append([]string{"--kubeconfig", kc}, args...)...).CombinedOutput()
		require.NoError(b, err, "kubectl %v: %s", args, out)
	}
}

// stopNow stops the servers of one iteration at once rather than at the end
// of the benchmark, so that they do not load the next iteration's.
func stopNow(b *testing.B, apps ...*appServer) {
	for _, a := range apps {
		a.stop(b)
	}
}
