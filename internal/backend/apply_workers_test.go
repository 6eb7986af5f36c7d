package backend

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// concurrentApplier records how many Apply calls run at once; each call
// waits (up to 250 ms) for the others, as round trips to a real API
// server would make them overlap.
type concurrentApplier struct {
	mu       sync.Mutex
	inFlight int
	max      int
	calls    int
	want     int
}

func (a *concurrentApplier) Apply(context.Context, []*unstructured.Unstructured) error {
	a.mu.Lock()
	a.calls++
	a.inFlight++
	a.max = max(a.max, a.inFlight)
	a.mu.Unlock()
	deadline := time.Now().Add(250 * time.Millisecond)
	for time.Now().Before(deadline) {
		a.mu.Lock()
		done := a.max >= a.want
		a.mu.Unlock()
		if done {
			break
		}
		time.Sleep(time.Millisecond)
	}
	a.mu.Lock()
	a.inFlight--
	a.mu.Unlock()
	return nil
}

func (a *concurrentApplier) PruneCluster(context.Context, string, []*unstructured.Unstructured) error {
	return nil
}
func (a *concurrentApplier) PruneOtherClusters(context.Context, []string) error { return nil }

func (a *concurrentApplier) RemoveInstanceNamespaces(context.Context, string, []string) ([]KeptNamespace, error) {
	return nil, nil
}

// A start-up apply of a thousand cluster folders one after another is bound
// by round trips (docs/scale.md): ApplyWorkers folders are applied at once.
func TestClusterFoldersAreAppliedByApplyWorkersAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		workers int
		want    int
	}{
		{name: "default: one after another", workers: 0, want: 1},
		{name: "three workers, four folders: three at once", workers: 3, want: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []client.Object
			for _, c := range []string{"c2", "c3", "c4"} {
				objs = append(objs, &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: c}})
			}
			h := newHarness(t, objs...)
			a := &concurrentApplier{want: max(tc.want, 2)}
			rc, err := New(Options{Client: h.client, APIReader: h.client, Repo: h.repo, Applier: a,
				ApplyWorkers: tc.workers, Now: func() time.Time { return h.now }})
			require.NoError(t, err)

			_, _ = rc.Reconcile(context.Background(), stateKey)

			require.Equal(t, 4, a.calls, "every cluster folder applied")
			assert.Equal(t, tc.want, a.max, "folders applied at once")
		})
	}
}
