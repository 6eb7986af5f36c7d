package integration

import (
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"

	"github.com/bindsync/bindsync/internal/apply"
	"github.com/bindsync/bindsync/internal/kustomize"
	"github.com/bindsync/bindsync/internal/manifest"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// writeCounter counts the requests that change the API server's state:
// every POST, PUT, PATCH and DELETE that is not a dry run. Reads and dry-run
// requests are counted apart.
type writeCounter struct {
	mu             sync.Mutex
	writes, dryRun []string
	reads          int
}

// wrap returns a copy of cfg whose requests go through the counter.
func (c *writeCounter) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			c.count(req)
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

func (c *writeCounter) count(req *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	line := req.Method + " " + req.URL.Path
	switch {
	case req.Method == http.MethodGet || req.Method == http.MethodHead:
		c.reads++
	case strings.Contains(req.URL.RawQuery, "dryRun=All"):
		c.dryRun = append(c.dryRun, line)
	default:
		c.writes = append(c.writes, line)
	}
}

// reset forgets what was counted and returns the writes seen so far.
func (c *writeCounter) reset() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.writes
	c.writes, c.dryRun, c.reads = nil, nil, 0
	return w
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// renderedControlPlane renders examples/control-plane in memory and builds
// clusters/<cluster>/control-plane with kustomize from the same fs.FS a Git
// tree gives, as the backend does.
func renderedControlPlane(t *testing.T, cluster string) []*unstructured.Unstructured {
	t.Helper()
	in, problems, err := manifest.LoadDir(repoPath(t, "examples", "control-plane"))
	require.NoError(t, err)
	require.Empty(t, problems)
	out := render.Render(in)
	fsys := fstest.MapFS{}
	for p, data := range out.Tree {
		fsys[p] = &fstest.MapFile{Data: data}
	}
	objs, err := kustomize.BuildFS(fsys, staterepo.ControlPlaneDir(cluster))
	require.NoError(t, err)
	apply.Sort(objs) // in the order they are applied
	require.NotEmpty(t, objs)
	return objs
}

// clusterSelector is the prune selector of one cluster's objects.
func clusterSelector(t *testing.T, cluster string) labels.Selector {
	t.Helper()
	sel, err := labels.Parse("bindsync.io/managed=true,bindsync.io/cluster=" + cluster)
	require.NoError(t, err)
	return sel
}

// refsOf lists the refs of objs, for comparing with a Result.
func refsOf(objs []*unstructured.Unstructured) []apply.ObjectRef {
	return inventoryOf(objs).Entries
}

// inventoryOf returns the inventory of objs, sorted and without duplicates
// (one entry per object whatever its version, as apply.ObjectRef.SameObject).
func inventoryOf(objs []*unstructured.Unstructured) apply.Inventory {
	type object struct{ group, kind, namespace, name string }
	seen := map[object]bool{}
	var inv apply.Inventory
	for _, o := range objs {
		r := apply.RefOf(o)
		k := object{r.Group, r.Kind, r.Namespace, r.Name}
		if !seen[k] {
			seen[k] = true
			inv.Entries = append(inv.Entries, r)
		}
	}
	sort.Slice(inv.Entries, func(i, j int) bool { return refLess(inv.Entries[i], inv.Entries[j]) })
	return inv
}

func refLess(a, b apply.ObjectRef) bool {
	for _, p := range [][2]string{{a.Group, b.Group}, {a.Kind, b.Kind}, {a.Namespace, b.Namespace}, {a.Name, b.Name}, {a.Version, b.Version}} {
		if p[0] != p[1] {
			return p[0] < p[1]
		}
	}
	return false
}

func TestInventoryOfSortsAndDeduplicates(t *testing.T) {
	inv := inventoryOf([]*unstructured.Unstructured{
		objectOf("rbac.authorization.k8s.io/v1", "Role", "ns", "b"),
		objectOf("v1", "Namespace", "", "ns"),
		objectOf("rbac.authorization.k8s.io/v1", "Role", "ns", "a"),
		objectOf("rbac.authorization.k8s.io/v1beta1", "Role", "ns", "a"),
	})
	assert.Equal(t, []apply.ObjectRef{
		{Version: "v1", Kind: "Namespace", Name: "ns"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role", Namespace: "ns", Name: "a"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role", Namespace: "ns", Name: "b"},
	}, inv.Entries, "sorted, one entry per object whatever its version")
}

func objectOf(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{}
	o.SetAPIVersion(apiVersion)
	o.SetKind(kind)
	o.SetNamespace(namespace)
	o.SetName(name)
	return o
}
