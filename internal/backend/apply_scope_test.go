package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// scopedApplier records, in order, each folder applied and each prune, and
// fails the folders of the clusters in fail.
type scopedApplier struct {
	mu    sync.Mutex
	fail  map[string]bool
	calls []string // "apply c1", "prune c1", "prune-others c1,c2"
}

func (a *scopedApplier) record(s string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, s)
}

func (a *scopedApplier) Apply(_ context.Context, objs []*unstructured.Unstructured) error {
	c := objs[0].GetLabels()[v1alpha1.ClusterLabel]
	a.record("apply " + c)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail[c] {
		return fmt.Errorf("Namespace bindsync-%s: %w", c, errors.New("exists and is not managed by bindsync"))
	}
	return nil
}

func (a *scopedApplier) PruneCluster(_ context.Context, cluster string, keep []*unstructured.Unstructured) error {
	if keep == nil {
		a.record("prune-left " + cluster)
	}
	return nil
}

func (a *scopedApplier) RemoveInstanceNamespaces(context.Context, string, []string) ([]KeptNamespace, error) {
	return nil, nil
}

func (a *scopedApplier) PruneOtherClusters(_ context.Context, clusters []string) error {
	a.record(fmt.Sprintf("prune-others %v", clusters))
	return nil
}

func (a *scopedApplier) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	calls := a.calls
	a.calls = nil
	return calls
}

func clusterRequest(cluster, name string) *v1alpha1.APIServiceExportRequest {
	return &v1alpha1.APIServiceExportRequest{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v1alpha1.ClusterNamespace(cluster),
		UID: types.UID("uid-" + cluster + "-" + name)},
		Spec: v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: "postgresql"}}}
}

func newScopedHarness(t *testing.T, a *scopedApplier, objs ...client.Object) *harness {
	h := newHarness(t, objs...)
	rc, err := New(Options{Client: h.client, APIReader: h.client, Repo: h.repo, Applier: a, Now: func() time.Time { return h.now }})
	require.NoError(t, err)
	h.rc = rc
	return h
}

func (h *harness) requestIn(cluster, name string) *v1alpha1.APIServiceExportRequest {
	h.t.Helper()
	var q v1alpha1.APIServiceExportRequest
	require.NoError(h.t, h.client.Get(context.Background(), client.ObjectKey{Namespace: v1alpha1.ClusterNamespace(cluster), Name: name}, &q))
	return &q
}

// One cluster whose folder does not apply (its namespace was created by
// hand, say) marks its own requests and nobody else's: the other cluster's
// request is Ready at main's head, and only the failed folder is applied
// again on the next reconcile.
func TestAFailingClusterFolderFailsOnlyItsOwnRequests(t *testing.T) {
	a := &scopedApplier{fail: map[string]bool{"c2": true}}
	h := newScopedHarness(t, a, &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "c2"}},
		clusterRequest("c1", "pg"), clusterRequest("c2", "pg"))

	res, err := h.rc.Reconcile(context.Background(), stateKey)

	require.Error(t, err, "the failure is returned, so it is logged and retried with backoff")
	assert.Zero(t, res.RequeueAfter)
	head := h.repo.refs["main"]
	ok := h.requestIn("c1", "pg")
	ready := condition(ok, v1alpha1.ReadyCondition)
	assert.Equal(t, metav1.ConditionTrue, ready.Status, "c1 is not held back by c2: %s", ready.Message)
	assert.Equal(t, "main@sha1:"+head.String(), ok.Status.Revision)
	failed := condition(h.requestIn("c2", "pg"), v1alpha1.ReadyCondition)
	assert.Equal(t, metav1.ConditionFalse, failed.Status)
	assert.Equal(t, v1alpha1.ApplyFailedReason, failed.Reason)
	assert.Contains(t, failed.Message, "bindsync-c2")
	assert.NotContains(t, failed.Message, "c1/control-plane")
	assert.NotContains(t, a.take(), "prune-others [c1 c2]", "nothing pruned while a folder failed")

	h.reconcile()
	assert.Equal(t, []string{"apply c2"}, a.take(), "only the failed folder is tried again; c1 counts as applied")

	a.fail = nil
	h.reconcile()
	assert.Equal(t, []string{"apply c2", "prune-others [c1 c2]"}, a.take(), "once every folder applied, the prune that was due runs")
	assert.Equal(t, metav1.ConditionTrue, condition(h.requestIn("c2", "pg"), v1alpha1.ReadyCondition).Status)
}

// A new leader knows nothing of what the last one applied: its first
// reconcile applies every folder in main and prunes clusters that left main
// only after all of them applied. A folder that fails holds the prune back
// until it applies.
func TestANewLeaderAppliesEveryFolderBeforePruning(t *testing.T) {
	a := &scopedApplier{}
	h := newScopedHarness(t, a, &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "c2"}},
		&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "c3"}},
		clusterRequest("c1", "pg"), clusterRequest("c2", "pg"), clusterRequest("c3", "pg"))
	h.reconcile()
	a.take()
	// The old leader goes; c3 leaves main while none runs.
	require.NoError(t, h.client.Delete(context.Background(), h.requestIn("c3", "pg")))
	require.NoError(t, h.client.Delete(context.Background(), &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "c3"}}))
	a.fail = map[string]bool{"c2": true}
	h.rc, _ = New(Options{Client: h.client, APIReader: h.client, Repo: h.repo, Applier: a, Now: func() time.Time { return h.now }})

	h.reconcile()
	require.NotContains(t, h.mainTree(), staterepo.ControlPlaneDir("c3")+"/"+staterepo.KustomizationFile, "c3 left main")
	calls := a.take()
	assert.ElementsMatch(t, []string{"apply c1", "apply c2"}, calls, "every folder applied; nothing pruned while c2 fails")

	h.now = h.now.Add(time.Minute)
	a.fail = nil
	h.reconcile()
	assert.Equal(t, []string{"apply c2", "prune-others [c1 c2]"}, a.take())
}

// An incremental run in which one cluster left main and another cluster's
// folder failed prunes nothing: the leaving cluster is pruned once every
// folder applied.
func TestAClusterThatLeftIsPrunedOnlyOnceEveryFolderApplied(t *testing.T) {
	a := &scopedApplier{}
	h := newScopedHarness(t, a, &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "c2"}},
		&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "c3"}},
		clusterRequest("c1", "pg"), clusterRequest("c2", "pg"), clusterRequest("c3", "pg"))
	h.reconcile()
	a.take()
	require.NoError(t, h.client.Delete(context.Background(), h.requestIn("c3", "pg")))
	require.NoError(t, h.client.Delete(context.Background(), &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "c3"}}))
	require.NoError(t, h.client.Delete(context.Background(), h.requestIn("c2", "pg")))
	a.fail = map[string]bool{"c2": true}

	h.reconcile()
	for _, c := range a.take() {
		assert.NotContains(t, c, "prune", "nothing pruned while c2's folder fails")
	}

	a.fail = nil
	h.reconcile()
	assert.Equal(t, []string{"apply c2", "prune-others [c1 c2]"}, a.take())
}

// The retry backoff of a failing reconcile stops doubling at the poll
// interval: controller-runtime's default reaches 1000 s, during which
// nothing polls the repository.
func TestRetryBackoffIsCappedAtTheInterval(t *testing.T) {
	for _, interval := range []time.Duration{30 * time.Second, time.Hour} {
		l := retryLimiter(interval)
		var last time.Duration
		for range 40 {
			last = l.When(stateKey)
		}
		assert.Equal(t, min(interval, MaxRetryDelay), last)
		l.Forget(stateKey)
		assert.Equal(t, minRetryDelay, l.When(stateKey), "a success starts over")
	}
}
