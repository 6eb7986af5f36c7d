package integration

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// crdRequests records the collection requests (lists and watches) on
// CustomResourceDefinitions made through a rest.Config it wrapped, with the
// representation each asked for.
type crdRequests struct {
	mu   sync.Mutex
	seen []string // "list <Accept>" or "watch <Accept>"
}

func (r *crdRequests) wrap(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/apis/apiextensions.k8s.io/v1/customresourcedefinitions") {
				verb := "list"
				if req.URL.Query().Get("watch") == "true" {
					verb = "watch"
				}
				r.mu.Lock()
				r.seen = append(r.seen, verb+" "+req.Header.Get("Accept"))
				r.mu.Unlock()
			}
			return rt.RoundTrip(req)
		})
	})
	return cfg
}

func (r *crdRequests) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

var crdListGVK = apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinitionList")

// TestIntegrationAgentCacheHoldsLittle: the manager's cache is most of the
// agent's memory besides the build. It watches the CRDs as metadata only (a
// whole CRD is 4 to 20 KiB of schema), and no cached object keeps its
// managedFields. The agent still does its whole job from that cache: it
// applies, orphans a CRD whose export left git (a list of the cached
// metadata), and deletes the CRD of a binding deleted with deletionPolicy
// Delete (a read of the whole CRD from the API server).
func TestIntegrationAgentCacheHoldsLittle(t *testing.T) {
	ctx, app := setupAgentTest(t)
	const cluster = "agent-cache"
	kept := testKind{plural: "keeps", kind: "Keep", group: "cache.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	dropped := testKind{plural: "drops", kind: "Drop", group: "cache.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	deleted := testKind{plural: "deletes", kind: "Delete", group: "cache.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	repo := newStateRepo(t)
	rev1 := repo.commit(appFolder(cluster, []testKind{kept, dropped, deleted}, nil))
	createBinding(ctx, t, app, kept.name(), "")
	createBinding(ctx, t, app, dropped.name(), "")
	createBinding(ctx, t, app, deleted.name(), v1alpha1.DeletionDelete)

	requests := &crdRequests{}
	src, err := source.New(source.Options{URL: repo.url(), Dir: staterepo.AppDir(cluster)})
	require.NoError(t, err)
	mgr, _, err := agent.NewManager(requests.wrap(app.Config), src, agent.Options{Cluster: cluster}, agent.RunOptions{
		Interval: time.Hour, MetricsBindAddress: "0", HealthProbeBindAddress: "0",
	})
	require.NoError(t, err)
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	appliedRevision := func(name string) string {
		var b v1alpha1.APIServiceBinding
		if err := app.Client.Get(ctx, client.ObjectKey{Name: name}, &b); err != nil {
			return err.Error()
		}
		return b.Status.LastAppliedRevision
	}
	require.Eventually(t, func() bool {
		return appliedRevision(kept.name()) == rev1 && appliedRevision(dropped.name()) == rev1 && appliedRevision(deleted.name()) == rev1
	}, 30*time.Second, 50*time.Millisecond, "the first pass applies the three CRDs")

	t.Run("CRDs are listed and watched as metadata only", func(t *testing.T) {
		seen := requests.all()
		watches := 0
		for _, r := range seen {
			if strings.HasPrefix(r, "watch ") {
				watches++
			}
			assert.Contains(t, r, "as=PartialObjectMetadata", "a CRD list or watch asked for whole objects: %s", r)
		}
		assert.NotZero(t, watches, "the manager watches CRDs (requests: %v)", seen)
	})

	t.Run("cached objects carry no managedFields", func(t *testing.T) {
		live := getBinding(ctx, t, app, kept.name())
		require.NotEmpty(t, live.ManagedFields, "the API server keeps managedFields on the binding")
		var bindings v1alpha1.APIServiceBindingList
		require.NoError(t, mgr.GetCache().List(ctx, &bindings))
		require.Len(t, bindings.Items, 3)
		for _, b := range bindings.Items {
			assert.Empty(t, b.ManagedFields, "cached binding %s", b.Name)
		}
		var crds metav1.PartialObjectMetadataList
		crds.SetGroupVersionKind(crdListGVK)
		require.NoError(t, mgr.GetCache().List(ctx, &crds))
		require.Len(t, crds.Items, 3, "the cache holds this cluster's CRDs")
		for _, c := range crds.Items {
			assert.Empty(t, c.ManagedFields, "cached CRD %s", c.Name)
		}
	})

	t.Run("status writes from the cache keep the API server's managedFields", func(t *testing.T) {
		b := getBinding(ctx, t, app, kept.name())
		var status, main bool
		for _, m := range b.ManagedFields {
			status = status || m.Subresource == "status"
			main = main || m.Subresource == ""
		}
		assert.True(t, status && main, "the agent's status update and finalizer patch are recorded: %v", b.ManagedFields)
	})

	t.Run("an export gone from git orphans its CRD; a binding deleted with policy Delete deletes its CRD", func(t *testing.T) {
		rev2 := repo.commit(appFolder(cluster, []testKind{kept, deleted}, nil))
		require.NoError(t, app.Client.Delete(ctx, getBinding(ctx, t, app, deleted.name())))
		b := getBinding(ctx, t, app, kept.name())
		patch := client.MergeFrom(b.DeepCopy())
		b.Annotations = map[string]string{v1alpha1.ReconcileRequestedAnnotation: "now"}
		require.NoError(t, app.Client.Patch(ctx, b, patch))
		require.Eventually(t, func() bool {
			crd, err := getCRD(ctx, t, app, dropped.name())
			if err != nil || crd.Labels[v1alpha1.ManagedLabel] != "" {
				return false
			}
			_, err = getCRD(ctx, t, app, deleted.name())
			return apierrors.IsNotFound(err) && appliedRevision(kept.name()) == rev2
		}, 30*time.Second, 50*time.Millisecond)
	})
}
