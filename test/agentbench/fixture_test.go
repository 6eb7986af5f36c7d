package agentbench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/manifest"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// benchCluster is the one app cluster of the benchmark's state repository.
const benchCluster = "bench"

// Sizes of the benchmark: the 11 real Klutch CRDs plus synthetic ones.
const (
	syntheticCRDs   = 200
	kindsPerGroup   = 4 // synthetic CRDs share a group four at a time: 50 groups
	syntheticDomain = "bench.bindsync.test"
)

// benchCRDs returns the 11 Klutch CRDs of testdata/crds/klutch followed by
// synthetic ones. Synthetic CRD i is a copy of Klutch CRD i%11 (so its schema
// has a real provider's size and shape, 4 to 19 KiB) in group
// g<i/4>.bench.bindsync.test: 50 groups of 4 kinds each.
func benchCRDs(tb testing.TB, synthetic int) []apiextensionsv1.CustomResourceDefinition {
	tb.Helper()
	in, problems, err := manifest.LoadDir(repoPath(tb, "testdata", "crds", "klutch"))
	require.NoError(tb, err)
	require.Empty(tb, problems)
	require.Len(tb, in.CRDs, 11, "the Klutch CRDs")
	sort.Slice(in.CRDs, func(i, j int) bool { return in.CRDs[i].Name < in.CRDs[j].Name })
	crds := append([]apiextensionsv1.CustomResourceDefinition(nil), in.CRDs...)
	for i := range synthetic {
		c := in.CRDs[i%len(in.CRDs)].DeepCopy()
		c.Spec.Group = fmt.Sprintf("g%03d.%s", i/kindsPerGroup, syntheticDomain)
		c.Name = c.Spec.Names.Plural + "." + c.Spec.Group
		c.ResourceVersion, c.UID = "", ""
		crds = append(crds, *c)
	}
	return crds
}

// renderInput is what the control plane would hold for one app cluster that
// binds every CRD: one template and one request per CRD.
func renderInput(crds []apiextensionsv1.CustomResourceDefinition) render.Input {
	in := render.Input{
		CRDs:     crds,
		Clusters: []v1alpha1.AppCluster{{ObjectMeta: metav1.ObjectMeta{Name: benchCluster}}},
	}
	for i, c := range crds {
		name := fmt.Sprintf("api-%03d", i)
		in.Templates = append(in.Templates, v1alpha1.APIServiceExportTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.APIServiceExportTemplateSpec{
				Resources: []v1alpha1.GroupResource{{Group: c.Spec.Group, Resource: c.Spec.Names.Plural}},
			},
		})
		in.Requests = append(in.Requests, v1alpha1.APIServiceExportRequest{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v1alpha1.ClusterNamespace(benchCluster)},
			Spec:       v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: name}},
		})
	}
	return in
}

// renderTree renders in and fails on any problem.
func renderTree(tb testing.TB, in render.Input) staterepo.Tree {
	tb.Helper()
	out := render.Render(in)
	require.Empty(tb, out.Problems)
	return out.Tree
}

// appCRDFiles returns the paths of the rendered CRD files of the bench
// cluster's app folder, the files kubectl applies.
func appCRDFiles(tree staterepo.Tree) []string {
	var files []string
	prefix := staterepo.AppDir(benchCluster) + "/crds/"
	for _, p := range tree.Paths() {
		if strings.HasPrefix(p, prefix) {
			files = append(files, p)
		}
	}
	return files
}

// crdNames returns the CRDs' names.
func crdNames(crds []apiextensionsv1.CustomResourceDefinition) []string {
	names := make([]string, len(crds))
	for i, c := range crds {
		names[i] = c.Name
	}
	return names
}

// addField adds a string property to the spec of every version of crd's
// schema: a schema change, as a provider's upgrade would make.
func addField(crd *apiextensionsv1.CustomResourceDefinition, field string) {
	for i := range crd.Spec.Versions {
		s := crd.Spec.Versions[i].Schema.OpenAPIV3Schema
		spec := s.Properties["spec"]
		if spec.Properties == nil {
			spec.Properties = map[string]apiextensionsv1.JSONSchemaProps{}
		}
		spec.Properties[field] = apiextensionsv1.JSONSchemaProps{Type: "string"}
		s.Properties["spec"] = spec
	}
}

// hasField reports whether every version of crd's schema has field in spec.
func hasField(crd *apiextensionsv1.CustomResourceDefinition, field string) bool {
	for _, v := range crd.Spec.Versions {
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			return false
		}
		if _, ok := v.Schema.OpenAPIV3Schema.Properties["spec"].Properties[field]; !ok {
			return false
		}
	}
	return true
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established {
			return c.Status == apiextensionsv1.ConditionTrue
		}
	}
	return false
}

// gitRemote is a bare repository served over file://, and a work tree that
// commits rendered trees and pushes them with the git CLI, as the backend's
// writer would.
type gitRemote struct {
	tb         testing.TB
	bare, work string
}

func newGitRemote(tb testing.TB) *gitRemote {
	tb.Helper()
	dir := tb.TempDir()
	r := &gitRemote{tb: tb, bare: filepath.Join(dir, "state.git"), work: filepath.Join(dir, "work")}
	r.git(dir, "init", "-q", "--bare", "-b", "main", r.bare)
	r.git(dir, "init", "-q", "-b", "main", r.work)
	return r
}

func (r *gitRemote) url() string { return "file://" + r.bare }

func (r *gitRemote) git(dir string, args ...string) string {
	r.tb.Helper()
	cmd := exec.Command("git", append([]string{"-c", "commit.gpgsign=false", "-c", "user.name=bindsync", "-c", "user.email=bindsync@localhost"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(r.tb, err, "git %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// commit makes the work tree exactly tree and commits it (not pushed yet);
// it returns the commit's hash.
func (r *gitRemote) commit(tree staterepo.Tree, msg string) string {
	r.tb.Helper()
	entries, err := os.ReadDir(r.work)
	require.NoError(r.tb, err)
	for _, e := range entries {
		if e.Name() != ".git" {
			require.NoError(r.tb, os.RemoveAll(filepath.Join(r.work, e.Name())))
		}
	}
	writeTree(r.tb, r.work, tree, nil)
	r.git(r.work, "add", "-A")
	r.git(r.work, "commit", "-q", "--allow-empty", "-m", msg)
	return r.git(r.work, "rev-parse", "HEAD")
}

// push pushes main to the bare repository.
func (r *gitRemote) push() {
	r.tb.Helper()
	r.git(r.work, "push", "-q", r.bare, "main")
}

// writeTree writes the files of tree (only those in paths, when given) under dir.
func writeTree(tb testing.TB, dir string, tree staterepo.Tree, paths []string) {
	tb.Helper()
	if paths == nil {
		paths = tree.Paths()
	}
	for _, p := range paths {
		full := filepath.Join(dir, filepath.FromSlash(p))
		require.NoError(tb, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(tb, os.WriteFile(full, tree[p], 0o644))
	}
}

// appServer is a fresh app API server with bindsync's CRDs installed. It
// is stopped by stop, or when the benchmark ends.
type appServer struct {
	*testenv.Cluster
	once sync.Once
}

func (s *appServer) stop(tb testing.TB) {
	s.once.Do(func() { require.NoError(tb, s.Stop()) })
}

// newApp starts an app API server. Missing test binaries fail the benchmark
// (`make bench` builds them).
func newApp(ctx context.Context, tb testing.TB) *appServer {
	tb.Helper()
	c, err := testenv.New(testenv.AppName)
	require.NoError(tb, err)
	s := &appServer{Cluster: c}
	tb.Cleanup(func() { s.stop(tb) })
	names, err := c.InstallCRDs(ctx, repoPath(tb, "config", "crd"))
	require.NoError(tb, err)
	require.NoError(tb, c.WaitEstablished(ctx, names...))
	return s
}

// newApps starts two equal fresh app API servers side by side.
func newApps(ctx context.Context, tb testing.TB) (a, b *appServer) {
	tb.Helper()
	// A failure in either goroutine marks tb failed and leaves its server nil.
	var wg sync.WaitGroup
	wg.Go(func() { a = newApp(ctx, tb) })
	wg.Go(func() { b = newApp(ctx, tb) })
	wg.Wait()
	require.False(tb, a == nil || b == nil, "an app API server did not start")
	return a, b
}

// createBindings creates an APIServiceBinding for each CRD name.
func createBindings(ctx context.Context, tb testing.TB, app *appServer, names []string) {
	tb.Helper()
	for _, n := range names {
		require.NoError(tb, app.Client.Create(ctx, &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: n}}))
	}
}

// kubeconfigConfig loads a kubeconfig file as `bindsync agent --kubeconfig`
// does, so the in-process agent talks to the server with the same client
// settings as the binary.
func kubeconfigConfig(tb testing.TB, path string) *rest.Config {
	tb.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	require.NoError(tb, err)
	return cfg
}

// waitCRDs waits until every named CRD satisfies ok, polling every 10ms.
func waitCRDs(ctx context.Context, app *appServer, names []string, ok func(*apiextensionsv1.CustomResourceDefinition) bool) error {
	pending := map[string]bool{}
	for _, n := range names {
		pending[n] = true
	}
	return wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		for n := range pending {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := app.Client.Get(ctx, client.ObjectKey{Name: n}, &crd); err != nil {
				continue
			}
			if ok(&crd) {
				delete(pending, n)
			}
		}
		return len(pending) == 0, nil
	})
}

// writeCounter counts the API requests that change something (not GET, not
// dry runs) made through a rest.Config it wrapped.
type writeCounter struct {
	mu     sync.Mutex
	writes []string
}

func (c *writeCounter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodGet && req.Method != http.MethodHead && !strings.Contains(req.URL.RawQuery, "dryRun=All") {
				c.mu.Lock()
				c.writes = append(c.writes, req.Method+" "+req.URL.Path)
				c.mu.Unlock()
			}
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

// reset returns the writes counted so far and forgets them.
func (c *writeCounter) reset() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.writes
	c.writes = nil
	return w
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// repoPath returns a path inside the bindsync checkout.
func repoPath(tb testing.TB, elem ...string) string {
	tb.Helper()
	root, err := testenv.ModuleRoot()
	require.NoError(tb, err)
	return filepath.Join(append([]string{root}, elem...)...)
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	addr := l.Addr().String()
	require.NoError(tb, l.Close())
	return addr
}

// kubectlPath is the pinned kubectl `make bench` builds (bin/kubectl), or
// $KUBECTL. A missing kubectl fails the benchmark: it was asked for.
func kubectlPath(tb testing.TB) string {
	tb.Helper()
	p := os.Getenv("KUBECTL")
	if p == "" {
		p = repoPath(tb, "bin", "kubectl")
	}
	_, err := os.Stat(p)
	require.NoError(tb, err, "kubectl from hack/tools/kubectl: run `make bench`, which builds it")
	return p
}

// buildAgent builds the bindsync binary into a temporary folder as it ships
// (testenv.BuildBindsync): the RSS measured depends on it.
func buildAgent(tb testing.TB) string {
	tb.Helper()
	bin, err := testenv.BuildBindsync(tb.TempDir())
	require.NoError(tb, err)
	return bin
}

// median of d (sorted in place).
func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	n := len(d)
	if n%2 == 1 {
		return d[n/2]
	}
	return (d[n/2-1] + d[n/2]) / 2
}

// uptime returns the machine's load averages, for the record.
func uptime() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "load unknown"
	}
	f := strings.Fields(string(b))
	return "load average " + strings.Join(f[:3], " ")
}
