package agentbench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/testutil/procmem"
)

// BenchmarkAgentProcess runs the real `bindsync agent` binary, built as the
// image builds it (static, CGO_ENABLED=0, -trimpath, -ldflags "-s -w"; see
// buildAgent), against a fresh app API server with 211 bound CRDs and the
// state repository over file://, with its webhook on.
//
//   - RSS: the process's resident memory, from /proc/<pid>/status sampled
//     every 50ms from its start: VmRSS split into RssAnon (the Go heap,
//     stacks and runtime: what the process allocated) and RssFile (the
//     executable's pages it touched, shared and reclaimable, yet counted).
//     Two phases: peak, the process's whole life through the cold sync and
//     three webhook-triggered no-op passes (VmHWM, and the anon/file split of
//     the largest sample); steady, the largest sample during the no-op passes
//     after the cold sync (what an agent in service holds). The target,
//     under 80 MB, applies to the peak VmHWM.
//   - WebhookPush: 10 times, a commit that changes one CRD's schema is pushed
//     with the git CLI and the webhook is called, signed; the time from the
//     push until the CRD in the app cluster has the new field and is
//     Established; target a median under 1 s.
//
// With BINDSYNC_BENCH_PROFILE_DIR set, the RSS run also writes the agent's
// heap profile (heap.pprof) and /proc/<pid>/smaps (smaps.txt) there;
// BINDSYNC_BENCH_AGENT_ARGS adds flags to the agent's command line (for
// example --memory-limit=48Mi).
func BenchmarkAgentProcess(b *testing.B) {
	ctx := context.Background()
	crds := benchCRDs(b, syntheticCRDs)
	in := renderInput(crds)
	names := crdNames(crds)
	remote := newGitRemote(b)
	head := remote.commit(renderTree(b, in), "state")
	remote.push()
	app := newApp(ctx, b)
	createBindings(ctx, b, app, names)
	bin := buildAgent(b)

	p := startAgent(b, bin, app, remote.url())
	peak := p.sampleMemory(50 * time.Millisecond)
	begin := time.Now()
	waitApplied(ctx, b, app, names, "main@sha1:"+head)
	b.Logf("agent process cold sync of %d CRDs: %s (from process start to every binding Ready at the revision); %s",
		len(names), time.Since(begin).Round(time.Millisecond), uptime())
	p.waitIdle(b)

	b.Run("RSS", func(b *testing.B) {
		steady := p.sampleMemory(50 * time.Millisecond)
		for b.Loop() {
			for range 3 {
				p.callWebhook(b)
				p.waitIdle(b)
			}
		}
		st := steady.Stop()
		pk := peak.Stop()
		hwm := p.hwm()
		b.ReportMetric(hwm, "peak-hwm-MB")
		b.ReportMetric(procmem.MB(pk.Anon), "peak-anon-MB")
		b.ReportMetric(procmem.MB(pk.File), "peak-file-MB")
		b.ReportMetric(procmem.MB(st.RSS), "steady-rss-MB")
		b.ReportMetric(procmem.MB(st.Anon), "steady-anon-MB")
		b.ReportMetric(procmem.MB(st.File), "steady-file-MB")
		b.ReportMetric(float64(len(names)), "bound-crds")
		goMem := []string{"go_memstats_heap_alloc_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_heap_sys_bytes",
			"go_memstats_heap_released_bytes", "go_memstats_next_gc_bytes", "go_memstats_sys_bytes"}
		if m, err := p.metricValues(goMem...); err == nil {
			for _, n := range goMem {
				b.Logf("%s %.1f MB", n, m[n]/(1<<20))
			}
		}
		cpu := p.cpuSeconds()
		b.ReportMetric(cpu, "cpu-s")
		b.Logf("agent process CPU time (user+system) from start through the cold sync and the no-op passes: %.2f s", cpu)
		p.writeProfile(b)
		b.Logf("agent RSS with %d bound CRDs (MB = 2^20 bytes): peak VmHWM %.1f MB (largest sample %.1f = RssAnon %.1f + RssFile %.1f); "+
			"steady, during no-op passes, largest VmRSS sample %.1f MB (RssAnon %.1f + RssFile %.1f); target: peak under 80 MB; %s",
			len(names), hwm, procmem.MB(pk.RSS), procmem.MB(pk.Anon), procmem.MB(pk.File),
			procmem.MB(st.RSS), procmem.MB(st.Anon), procmem.MB(st.File), uptime())
	})

	b.Run("WebhookPush", func(b *testing.B) {
		const pushes = 10
		var lat []time.Duration
		k := 0
		for b.Loop() {
			for range pushes {
				b.StopTimer()
				k++
				j := (k * 37) % len(in.CRDs) // spread over Klutch and synthetic CRDs, all through the apply order
				field := fmt.Sprintf("benchPush%d", k)
				addField(&in.CRDs[j], field)
				head := remote.commit(renderTree(b, in), field)
				b.StartTimer()
				begin := time.Now()
				remote.push()
				p.callWebhook(b)
				require.NoError(b, waitCRDs(ctx, app, []string{in.CRDs[j].Name}, func(c *apiextensionsv1.CustomResourceDefinition) bool {
					return hasField(c, field) && established(c)
				}), "CRD %s with %s", in.CRDs[j].Name, field)
				lat = append(lat, time.Since(begin))
				b.StopTimer()
				waitApplied(ctx, b, app, names[j:j+1], "main@sha1:"+head)
				p.waitIdle(b) // pushes are apart: each is timed alone
				b.StartTimer()
			}
		}
		sorted := append([]time.Duration(nil), lat...)
		med := median(sorted)
		b.ReportMetric(med.Seconds(), "median-s")
		b.ReportMetric(sorted[0].Seconds(), "min-s")
		b.ReportMetric(sorted[len(sorted)-1].Seconds(), "max-s")
		b.ReportMetric(float64(len(lat)), "pushes")
		b.Logf("push -> CRD updated and Established, webhook-triggered, %d pushes: median %s, min %s, max %s (target median under 1s); all: %v; %s",
			len(lat), med.Round(time.Millisecond), sorted[0].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond), roundAll(lat), uptime())
	})
	b.Logf("agent VmHWM at the end, cold sync and pushes included: %.1f MB", p.hwm())
}

func roundAll(d []time.Duration) []time.Duration {
	out := make([]time.Duration, len(d))
	for i, x := range d {
		out[i] = x.Round(time.Millisecond)
	}
	return out
}

// agentProcess is a running `bindsync agent`.
type agentProcess struct {
	cmd                             *exec.Cmd
	log                             string
	webhook, metrics, pprof, secret string
}

// startAgent starts the binary on app and repo, with a 10 minute interval (so
// every pass the benchmark sees is one it triggered, or the agent's watch),
// the webhook, and metrics on free loopback ports; extra flags follow.
func startAgent(b testing.TB, bin string, app *appServer, url string, extra ...string) *agentProcess {
	b.Helper()
	dir := b.TempDir()
	p := &agentProcess{
		log: filepath.Join(dir, "agent.log"), secret: "bench-secret",
		webhook: freeAddr(b), metrics: freeAddr(b), pprof: freeAddr(b),
	}
	secretFile := filepath.Join(dir, "webhook-secret")
	require.NoError(b, os.WriteFile(secretFile, []byte(p.secret), 0o600))
	logFile, err := os.Create(p.log)
	require.NoError(b, err)
	p.cmd = exec.Command(bin, "agent",
		"--kubeconfig", app.WriteKubeconfig(b), "--cluster", benchCluster, "--repo", url,
		"--interval", "10m", "--wait-established", "2m",
		"--webhook-bind-address", p.webhook, "--webhook-secret-file", secretFile,
		"--metrics-bind-address", p.metrics, "--health-probe-bind-address", freeAddr(b),
		"--pprof-bind-address", p.pprof)
	p.cmd.Args = append(p.cmd.Args, extra...)
	p.cmd.Args = append(p.cmd.Args, strings.Fields(os.Getenv("BINDSYNC_BENCH_AGENT_ARGS"))...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	require.NoError(b, p.cmd.Start())
	b.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-done
		}
		_ = logFile.Close()
		if b.Failed() {
			b.Logf("agent log (%s):\n%s", p.log, tail(p.log, 40))
		}
	})
	return p
}

func tail(file string, lines int) string {
	data, _ := os.ReadFile(file)
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// callWebhook POSTs a push notification signed as a git host does.
func (p *agentProcess) callWebhook(b testing.TB) {
	b.Helper()
	body := []byte(`{"ref":"refs/heads/main"}`)
	mac := hmac.New(sha256.New, []byte(p.secret))
	mac.Write(body)
	var resp *http.Response
	// The listener may not be up in the first moments of the process.
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		req, err := http.NewRequest(http.MethodPost, "http://"+p.webhook+"/", bytes.NewReader(body))
		if err != nil {
			return false, err
		}
		req.Header.Set(agent.GitHubSignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
		resp, err = http.DefaultClient.Do(req)
		return err == nil, nil
	})
	require.NoError(b, err, "webhook at %s", p.webhook)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	require.Equal(b, http.StatusAccepted, resp.StatusCode)
}

// metricValues reads the named metrics (summed over their labels) from the
// agent's /metrics.
func (p *agentProcess) metricValues(names ...string) (map[string]float64, error) {
	resp, err := http.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for _, n := range names {
			if line == n || strings.HasPrefix(line, n+" ") || strings.HasPrefix(line, n+"{") {
				f := strings.Fields(line)
				v, err := strconv.ParseFloat(f[len(f)-1], 64)
				if err == nil {
					out[n] += v
				}
			}
		}
	}
	return out, sc.Err()
}

// waitIdle waits until the agent has no pass running or queued, and that
// held for 300ms: the watch-triggered pass that follows a CRD change included.
func (p *agentProcess) waitIdle(b *testing.B) {
	b.Helper()
	const active = `controller_runtime_active_workers{controller="bindsync-agent"}`
	const depth = `workqueue_depth{controller="bindsync-agent",name="bindsync-agent"}`
	const passes = "bindsync_agent_sync_duration_seconds_count"
	var idleSince time.Time
	var lastPasses float64 = -1
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 5*time.Minute, true, func(context.Context) (bool, error) {
		m, err := p.metricValues(active, depth, passes)
		if err != nil {
			return false, nil
		}
		busy := m[active] > 0 || m[depth] > 0 || m[passes] != lastPasses
		lastPasses = m[passes]
		if busy {
			idleSince = time.Time{}
			return false, nil
		}
		if idleSince.IsZero() {
			idleSince = time.Now()
		}
		return time.Since(idleSince) >= 300*time.Millisecond, nil
	})
	require.NoError(b, err, "agent did not become idle")
}

// hwm returns the agent's VmHWM in MB: the highest VmRSS over its life.
func (p *agentProcess) hwm() float64 {
	m, _ := procmem.Read(p.cmd.Process.Pid)
	return procmem.MB(m.HWM)
}

// cpuSeconds returns the process's user and system CPU time so far
// (/proc/<pid>/stat), in seconds.
func (p *agentProcess) cpuSeconds() float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ, 100 on Linux
}

// sampleMemory samples the agent's memory every interval; Stop returns the
// sample with the largest VmRSS.
func (p *agentProcess) sampleMemory(every time.Duration) *procmem.Sampler {
	return procmem.Sample(p.cmd.Process.Pid, every, nil)
}

// writeProfile writes the agent's heap profile and smaps to
// $BINDSYNC_BENCH_PROFILE_DIR, when set.
func (p *agentProcess) writeProfile(b *testing.B) {
	dir := os.Getenv("BINDSYNC_BENCH_PROFILE_DIR")
	if dir == "" {
		return
	}
	require.NoError(b, os.MkdirAll(dir, 0o755))
	smaps, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", p.cmd.Process.Pid))
	require.NoError(b, err)
	require.NoError(b, os.WriteFile(filepath.Join(dir, "smaps.txt"), smaps, 0o644))
	resp, err := http.Get("http://" + p.pprof + "/debug/pprof/heap")
	require.NoError(b, err)
	defer resp.Body.Close()
	heap, err := io.ReadAll(resp.Body)
	require.NoError(b, err)
	require.NoError(b, os.WriteFile(filepath.Join(dir, "heap.pprof"), heap, 0o644))
	b.Logf("heap profile and smaps in %s", dir)
}

// waitApplied waits until every named binding is Ready at rev.
func waitApplied(ctx context.Context, b *testing.B, app *appServer, names []string, rev string) {
	b.Helper()
	pending := map[string]string{}
	for _, n := range names {
		pending[n] = "not read"
	}
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		var list v1alpha1.APIServiceBindingList
		if err := app.Client.List(ctx, &list); err != nil {
			return false, nil
		}
		for _, bd := range list.Items {
			if _, ok := pending[bd.Name]; !ok {
				continue
			}
			if bd.Status.LastAppliedRevision == rev && readyTrue(&bd) {
				delete(pending, bd.Name)
			} else {
				pending[bd.Name] = bd.Status.LastAttemptedRevision
			}
		}
		return len(pending) == 0, nil
	})
	require.NoError(b, err, "%d bindings not Ready at %s", len(pending), rev)
}

func readyTrue(bd *v1alpha1.APIServiceBinding) bool {
	for _, c := range bd.Status.Conditions {
		if c.Type == v1alpha1.ReadyCondition {
			return c.Status == "True"
		}
	}
	return false
}
