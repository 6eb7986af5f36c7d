package integration

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/internal/apply"
	"github.com/bindsync/bindsync/internal/testenv"
)

// requestLog records every request made through a rest.Config it wrapped,
// as "METHOD path?query".
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			l.mu.Lock()
			l.reqs = append(l.reqs, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
			l.mu.Unlock()
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

func (l *requestLog) reset() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.reqs
	l.reqs = nil
	return r
}

func countMatching(reqs []string, pred func(string) bool) int {
	n := 0
	for _, r := range reqs {
		if pred(r) {
			n++
		}
	}
	return n
}

// TestIntegrationApplyRemembersUnchanged: with RememberUnchanged (the
// agent's setting), a CRD found in sync and Established is not read and
// dry-run again while neither git nor the live object changed: one metadata
// list tells that its resourceVersion has not moved. Any change to the live
// object (a hand edit) or to git brings the full comparison back.
func TestIntegrationApplyRemembersUnchanged(t *testing.T) {
	t.Parallel()
	_, app := testenv.SharedPair(t)
	ctx := testContext(t)
	const cluster = "apply-remember"
	crd, _ := testCRD(t, "remember.apply.bindsync.test", cluster)
	name := crd.GetName()
	crdPath := "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"

	log := &requestLog{}
	a, err := apply.New(log.wrap(app.Config), apply.Options{
		FieldManager: "bindsync-agent", PruneSelector: clusterSelector(t, cluster),
		WaitEstablished: 30 * time.Second, RememberUnchanged: true,
	})
	require.NoError(t, err)
	applyCRD := func(t *testing.T, a *apply.Applier, o *unstructured.Unstructured) (apply.Result, []string) {
		t.Helper()
		log.reset()
		res, err := a.Apply(ctx, []*unstructured.Unstructured{o.DeepCopy()})
		require.NoError(t, err)
		return res, log.reset()
	}
	isRead := func(r string) bool { return strings.HasPrefix(r, "GET "+crdPath+"/"+name+"?") }
	isDryRun := func(r string) bool { return strings.Contains(r, "dryRun=All") }
	isList := func(r string) bool { return strings.HasPrefix(r, "GET "+crdPath+"?") }
	isWrite := func(r string) bool { return !strings.HasPrefix(r, "GET ") && !isDryRun(r) }

	res, _ := applyCRD(t, a, crd)
	require.Len(t, res.Created, 1)

	t.Run("the first re-apply compares in full and finds the CRD unchanged", func(t *testing.T) {
		res, reqs := applyCRD(t, a, crd)
		assert.Len(t, res.Unchanged, 1)
		assert.Equal(t, 1, countMatching(reqs, isDryRun), "a dry run: %v", reqs)
		assert.Zero(t, countMatching(reqs, isWrite), "no write: %v", reqs)
	})

	t.Run("then an unchanged CRD costs one metadata list: no read, no dry run, no wait", func(t *testing.T) {
		res, reqs := applyCRD(t, a, crd)
		assert.Len(t, res.Unchanged, 1)
		assert.Equal(t, 1, countMatching(reqs, isList), "%v", reqs)
		assert.Zero(t, countMatching(reqs, isRead), "%v", reqs)
		assert.Zero(t, countMatching(reqs, isDryRun), "%v", reqs)
		assert.Zero(t, countMatching(reqs, isWrite), "%v", reqs)
	})

	t.Run("a hand edit moves the resourceVersion: compared in full and set back", func(t *testing.T) {
		patch := []byte(`{"spec":{"versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","description":"edited by hand"}}}]}}`)
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(crd.GroupVersionKind())
		live.SetName(name)
		require.NoError(t, app.Client.Patch(ctx, live, client.RawPatch(types.MergePatchType, patch), client.FieldOwner("kubectl-edit")))
		res, reqs := applyCRD(t, a, crd)
		assert.Len(t, res.Configured, 1, "%v", reqs)
		require.NoError(t, app.Client.Get(ctx, client.ObjectKey{Name: name}, live))
		got, _, _ := unstructured.NestedSlice(live.Object, "spec", "versions")
		require.Len(t, got, 1)
		desc, _, _ := unstructured.NestedString(got[0].(map[string]any), "schema", "openAPIV3Schema", "description")
		assert.Equal(t, "A widget.", desc)
	})

	t.Run("an annotation added by hand (no generation change) moves the resourceVersion: compared in full", func(t *testing.T) {
		applyCRD(t, a, crd) // remembered again
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(crd.GroupVersionKind())
		live.SetName(name)
		require.NoError(t, app.Client.Patch(ctx, live, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"bindsync.io/schema-hash":"edited"}}}`))))
		res, reqs := applyCRD(t, a, crd)
		assert.Equal(t, 1, countMatching(reqs, isDryRun), "%v", reqs)
		assert.Len(t, res.Unchanged, 1, "%v: an annotation git does not set is not bindsync's to remove", reqs)
	})

	t.Run("a change in git is compared in full and applied", func(t *testing.T) {
		applyCRD(t, a, crd) // remembered again
		changed := crd.DeepCopy()
		vs, _, _ := unstructured.NestedSlice(changed.Object, "spec", "versions")
		v0 := vs[0].(map[string]any)
		require.NoError(t, unstructured.SetNestedField(v0, "A bigger widget.", "schema", "openAPIV3Schema", "description"))
		require.NoError(t, unstructured.SetNestedSlice(changed.Object, vs, "spec", "versions"))
		res, reqs := applyCRD(t, a, changed)
		assert.Len(t, res.Configured, 1, "%v", reqs)
	})

	t.Run("without RememberUnchanged every apply compares in full", func(t *testing.T) {
		plain, err := apply.New(log.wrap(app.Config), apply.Options{
			FieldManager: "bindsync-agent", PruneSelector: clusterSelector(t, cluster), WaitEstablished: 30 * time.Second,
		})
		require.NoError(t, err)
		for range 2 {
			_, reqs := applyCRD(t, plain, crd)
			assert.Equal(t, 1, countMatching(reqs, isDryRun), "%v", reqs)
		}
	})
}
