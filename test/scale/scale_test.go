// Package scale is bindsync's scale harness: `bindsync backend` as a real
// process against a real API server holding 1000 AppClusters, 10,000
// requests and a thousand unrelated CRDs. It is a benchmark, so `go test
// ./...` does not run it; `make bench` does:
//
//	go test -v -run '^$' -bench . -benchtime=1x -timeout 120m ./test/scale/
//	go test -v -run '^$' -bench . -benchtime=1x ./test/scale/ -args -clusters=100 -unrelated=0
//
// See docs/scale.md for the figures.
package scale

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/testenv"
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // defines -update for go test ./... -update
)

var (
	flagClusters   = flag.Int("clusters", 1000, "AppClusters on the control plane")
	flagRequests   = flag.Int("requests", 10, "requests per cluster (one per template, round robin)")
	flagTemplates  = flag.Int("templates", 10, "templates, one per Klutch CRD (at most 11)")
	flagUnrelated  = flag.String("unrelated", "1000,0", "comma-separated counts of unrelated CRDs; one run each")
	flagInterval   = flag.Duration("interval", 10*time.Second, "the backend's --interval")
	flagConverge   = flag.Duration("converge-timeout", 45*time.Minute, "how long the backend may take to converge")
	flagPeakTarget = flag.Int64("peak-rss-target-mb", 250, "peak RSS target, reported against")
	flagProfileDir = flag.String("profile-dir", "", "folder for the backend's heap profile at its highest RSS (heap-at-peak.pb.gz); empty: none")
	flagBackendArg = flag.String("backend-args", "", "space-separated extra flags of bindsync backend (e.g. --memory-limit=0)")
)

const workers = 16

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// BenchmarkBackendScale runs the scenario once per count of unrelated CRDs
// (whatever b.N: one run takes minutes) and reports peak RSS, the time to
// converge, the commits made, and the writes of the no-op phase.
func BenchmarkBackendScale(b *testing.B) {
	bin := buildBindsync(b)
	for _, s := range strings.Split(*flagUnrelated, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		require.NoError(b, err, "-unrelated %q", *flagUnrelated)
		b.Run(fmt.Sprintf("clusters=%d/requests=%d/unrelated=%d", *flagClusters, *flagClusters**flagRequests, n), func(b *testing.B) {
			runScenario(b, bin, n)
		})
	}
}

func runScenario(b *testing.B, bin string, unrelated int) {
	ctx := context.Background()
	b.Logf("load before: %s", loadavg())
	cp := testenv.Start(b, "scale")
	c := fastClient(b, cp)

	// The control plane: bindsync's CRDs, the Klutch CRDs, the unrelated ones.
	setup := time.Now()
	root, err := testenv.ModuleRoot()
	require.NoError(b, err)
	_, err = cp.InstallCRDs(ctx, filepath.Join(root, "config", "crd"))
	require.NoError(b, err)
	klutchNames, err := cp.InstallCRDs(ctx, filepath.Join(root, "testdata", "crds", "klutch"))
	require.NoError(b, err)
	sort.Strings(klutchNames)
	require.LessOrEqual(b, *flagTemplates, len(klutchNames))
	var klutch []*apiextensionsv1.CustomResourceDefinition
	for _, name := range klutchNames[:*flagTemplates] {
		var crd apiextensionsv1.CustomResourceDefinition
		require.NoError(b, c.Get(ctx, client.ObjectKey{Name: name}, &crd))
		klutch = append(klutch, &crd)
	}
	var crds []client.Object
	var schemaBytes int
	for i := range unrelated {
		crd := unrelatedCRD(i)
		raw, err := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Marshal()
		require.NoError(b, err)
		schemaBytes += len(raw)
		crds = append(crds, crd)
	}
	require.NoError(b, createAll(ctx, c, workers, crds))
	var all apiextensionsv1.CustomResourceDefinitionList
	require.NoError(b, c.List(ctx, &all))
	require.NoError(b, waitEstablished(ctx, c, len(all.Items)))
	if unrelated > 0 {
		b.Logf("%d unrelated CRDs (schemas %.1f KB on average, %.1f MB in all) Established; %d CRDs on the server; %s",
			unrelated, float64(schemaBytes)/float64(unrelated)/1024, float64(schemaBytes)/(1<<20), len(all.Items), time.Since(setup).Round(time.Second))
	}

	// Templates, clusters, namespaces, requests.
	tpls := templatesFor(klutch)
	w := world{clusters: *flagClusters, perCluster: *flagRequests}
	for _, t := range tpls {
		w.templates = append(w.templates, t.GetName())
	}
	namespaces, clusters, requests := w.objects()
	objStart := time.Now()
	require.NoError(b, createAll(ctx, c, workers, tpls))
	require.NoError(b, createAll(ctx, c, workers, append(namespaces, clusters...)))
	require.NoError(b, createAll(ctx, c, workers, requests))
	b.Logf("created %d templates, %d clusters (and namespaces), %d requests in %s",
		len(tpls), len(clusters), len(requests), time.Since(objStart).Round(time.Millisecond))

	// The backend, as a process.
	dataDir := filepath.Join(b.TempDir(), "data")
	b.Logf("load at backend start: %s", loadavg())
	start := time.Now()
	profileDir := *flagProfileDir
	if profileDir != "" {
		profileDir = filepath.Join(profileDir, fmt.Sprintf("unrelated-%d", unrelated))
	}
	p := startBackend(b, bin, cp.WriteKubeconfig(b), dataDir, *flagInterval, profileDir, strings.Fields(*flagBackendArg)...)
	conv := waitConverged(b, ctx, c, p, dataDir, w, start)
	peak, hwm, last, samples := p.memory()
	head := gitHead(dataDir)
	commits := gitCount(b, dataDir, head)
	b.Logf("converged: main holds %d folders at %s; %d exports; %d requests Ready at that revision", w.clusters, head[:12], len(requests), len(requests))
	b.Logf("times from process start: git %s, exports %s, requests Ready %s", conv.git.Round(time.Second), conv.exports.Round(time.Second), conv.ready.Round(time.Second))
	b.Logf("memory: peak sampled VmRSS %s (%d samples), VmHWM %s, VmRSS now %s (target < %d MB)",
		mb(peak), samples, mb(hwm), mb(last), *flagPeakTarget)
	b.Logf("commits on main: %d", commits)

	// No-op: nothing changes; after two reconcile intervals there is no
	// new commit and no API write.
	m0 := settle(b, ctx, p)
	noopStart := time.Now()
	m1 := waitReconciles(b, ctx, p, sum(m0, "bindsync_backend_reconcile_duration_seconds_count")+2, 2**flagInterval)
	reconciles := sum(m1, "bindsync_backend_reconcile_duration_seconds_count") - sum(m0, "bindsync_backend_reconcile_duration_seconds_count")
	w0, w1 := writes(m0), writes(m1)
	b.Logf("no-op phase: %s, %.0f reconciles; writes before %v, after %v; commits_total %.0f -> %.0f; head %s -> %s",
		time.Since(noopStart).Round(time.Second), reconciles, w0, w1,
		sum(m0, "bindsync_backend_commits_total"), sum(m1, "bindsync_backend_commits_total"), head[:12], gitHead(dataDir)[:12])
	assert.Equal(b, head, gitHead(dataDir), "no new commit on main in the no-op phase")
	assert.Equal(b, sum(m0, "bindsync_backend_commits_total"), sum(m1, "bindsync_backend_commits_total"), "commits_total did not move")
	assert.Equal(b, w0, w1, "no API write in the no-op phase")
	assert.GreaterOrEqual(b, reconciles, 2.0, "the no-op phase saw two reconciles")

	_, hwm, _, _ = p.memory()
	b.Logf("load after: %s; final VmHWM %s", loadavg(), mb(hwm))
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MB")
	b.ReportMetric(float64(hwm)/(1<<20), "VmHWM-MB")
	b.ReportMetric(conv.ready.Seconds(), "converge-s")
	b.ReportMetric(float64(commits), "commits")
	var noopWrites float64
	for m := range w1 {
		noopWrites += w1[m] - w0[m]
	}
	b.ReportMetric(noopWrites, "noop-writes")
	if hwm > *flagPeakTarget<<20 {
		b.Logf("peak RSS target missed: VmHWM %s > %d MB", mb(hwm), *flagPeakTarget)
	}
}

type convergence struct{ git, exports, ready time.Duration }

// waitConverged polls until main holds every cluster's folder, the control
// plane holds every export, and every request is Ready at main's head.
func waitConverged(b *testing.B, ctx context.Context, c client.Client, p *backendProcess, dataDir string, w world, start time.Time) convergence {
	var conv convergence
	want := w.clusters * w.perCluster
	deadline := start.Add(*flagConverge)
	lastLog := time.Now()
	for {
		require.False(b, p.exited(), "bindsync backend exited; log:\n%s", p.logTail(8000))
		require.True(b, time.Now().Before(deadline), "not converged after %s; log:\n%s", *flagConverge, p.logTail(8000))
		now := time.Since(start)
		head := gitHead(dataDir)
		folders := 0
		if head != "" {
			folders = gitFolders(dataDir, head)
			if conv.git == 0 && folders >= w.clusters {
				conv.git = now
			}
		}
		exports := 0
		if conv.git != 0 && conv.exports == 0 {
			var l metav1.PartialObjectMetadataList
			l.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("APIServiceExportList"))
			require.NoError(b, c.List(ctx, &l))
			if exports = len(l.Items); exports >= want {
				conv.exports = now
			}
		}
		ready := 0
		if conv.exports != 0 {
			ready = readyAt(b, ctx, c, "main@sha1:"+head)
			if ready >= want && head == gitHead(dataDir) {
				conv.ready = now
				return conv
			}
		}
		if time.Since(lastLog) >= 30*time.Second {
			_, _, rss, _ := p.memory()
			var heap, goroutines float64
			if m, err := p.metrics(ctx); err == nil {
				heap, goroutines = sum(m, "go_memstats_heap_inuse_bytes"), sum(m, "go_goroutines")
			}
			b.Logf("%s: main %.12s, %d/%d folders, %d exports, %d Ready; VmRSS %s, heap in use %s, %.0f goroutines; load %s",
				now.Round(time.Second), head, folders, w.clusters, exports, ready, mb(rss), mb(int64(heap)), goroutines, loadavg())
			lastLog = time.Now()
		}
		time.Sleep(2 * time.Second)
	}
}

func readyAt(b *testing.B, ctx context.Context, c client.Client, revision string) int {
	var l v1alpha1.APIServiceExportRequestList
	require.NoError(b, c.List(ctx, &l))
	n := 0
	for _, q := range l.Items {
		if meta.IsStatusConditionTrue(q.Status.Conditions, v1alpha1.ReadyCondition) && q.Status.Revision == revision {
			n++
		}
	}
	return n
}

// settle waits for one more reconcile to end (the one the last status
// writes triggered) and then until the backend's write counters stay still
// for one interval: events are sent asynchronously and drain after the
// status writes that recorded them. It returns the metrics then.
func settle(b *testing.B, ctx context.Context, p *backendProcess) map[string]float64 {
	m, err := p.metrics(ctx)
	require.NoError(b, err)
	m = waitReconciles(b, ctx, p, sum(m, "bindsync_backend_reconcile_duration_seconds_count")+1, 0)
	begin := time.Now()
	for {
		time.Sleep(*flagInterval)
		next, err := p.metrics(ctx)
		require.NoError(b, err)
		if fmt.Sprint(writes(next)) == fmt.Sprint(writes(m)) {
			b.Logf("settled: writes %v still for %s (%s after convergence)", writes(next), *flagInterval, time.Since(begin).Round(time.Second))
			return next
		}
		require.Less(b, time.Since(begin), 15*time.Minute, "the backend kept writing for 15 minutes after convergence: %v -> %v; log:\n%s",
			writes(m), writes(next), p.logTail(4000))
		m = next
	}
}

// waitReconciles waits until the backend has finished `count` reconciles
// and at least `atLeast` has passed, and returns the metrics then.
func waitReconciles(b *testing.B, ctx context.Context, p *backendProcess, count float64, atLeast time.Duration) map[string]float64 {
	begin := time.Now()
	deadline := begin.Add(atLeast + 10**flagInterval + 5*time.Minute)
	for {
		m, err := p.metrics(ctx)
		require.NoError(b, err)
		if sum(m, "bindsync_backend_reconcile_duration_seconds_count") >= count && time.Since(begin) >= atLeast {
			return m
		}
		require.True(b, time.Now().Before(deadline), "the backend did not reconcile %.0f times; log:\n%s", count, p.logTail(4000))
		time.Sleep(500 * time.Millisecond)
	}
}

func gitHead(dir string) string {
	out, err := exec.Command("git", "--git-dir", dir, "rev-parse", "--verify", "-q", "refs/heads/main").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func gitFolders(dir, head string) int {
	out, err := exec.Command("git", "--git-dir", dir, "ls-tree", "--name-only", head+":clusters").Output()
	if err != nil {
		return 0
	}
	return len(strings.Fields(string(out)))
}

func gitCount(b *testing.B, dir, head string) int {
	out, err := exec.Command("git", "--git-dir", dir, "rev-list", "--count", head).Output()
	require.NoError(b, err)
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	require.NoError(b, err)
	return n
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/(1<<20)) }

func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Join(strings.Fields(string(data))[:3], " ")
}
