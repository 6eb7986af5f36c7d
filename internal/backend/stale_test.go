package backend

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// staleClient serves List from a frozen copy, as the manager's cache does
// for a moment after a status write, and counts status patches.
type staleClient struct {
	client.Client
	frozen  map[string]client.ObjectList
	patches int
}

func (c *staleClient) freeze(t *testing.T) {
	c.frozen = map[string]client.ObjectList{}
	for key, l := range map[string]client.ObjectList{
		"requests": &v1alpha1.APIServiceExportRequestList{}, "templates": &v1alpha1.APIServiceExportTemplateList{},
		"clusters": &v1alpha1.AppClusterList{},
	} {
		require.NoError(t, c.Client.List(context.Background(), l))
		c.frozen[key] = l
	}
}

func (c *staleClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if c.frozen == nil {
		return c.Client.List(ctx, list, opts...)
	}
	switch l := list.(type) {
	case *v1alpha1.APIServiceExportRequestList:
		c.frozen["requests"].(*v1alpha1.APIServiceExportRequestList).DeepCopyInto(l)
	case *v1alpha1.APIServiceExportTemplateList:
		c.frozen["templates"].(*v1alpha1.APIServiceExportTemplateList).DeepCopyInto(l)
	case *v1alpha1.AppClusterList:
		c.frozen["clusters"].(*v1alpha1.AppClusterList).DeepCopyInto(l)
	default:
		return c.Client.List(ctx, list, opts...)
	}
	return nil
}

func (c *staleClient) Status() client.SubResourceWriter { return &countingStatus{c.Client.Status(), c} }

type countingStatus struct {
	client.SubResourceWriter
	c *staleClient
}

func (s *countingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.c.patches++
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

// TestAStaleCacheAfterAStatusWriteMakesNoSecondEventOrWrite: the reconcile
// right after a status write often lists the objects as they were before it
// (the cache has not seen the write yet). It must not take that old status
// for the truth: no second event for the same transition, no second write.
func TestAStaleCacheAfterAStatusWriteMakesNoSecondEventOrWrite(t *testing.T) {
	h := newHarness(t, newRequest("pg", "postgresql"))
	stale := &staleClient{Client: h.client}
	stale.freeze(t) // the lists before the first reconcile writes status
	rec := events.NewFakeRecorder(100)
	var err error
	h.rc, err = New(Options{Client: stale, APIReader: h.client, Repo: h.repo, Applier: h.applier, Recorder: rec, Now: h.rc.opts.Now})
	require.NoError(t, err)

	h.reconcile()
	require.Equal(t, "True", string(condition(h.request("pg"), v1alpha1.ReadyCondition).Status), "the first reconcile binds")
	first, firstPatches := drain(rec), stale.patches
	require.NotEmpty(t, first, "the transitions are recorded")
	require.Positive(t, firstPatches)

	h.reconcile() // the cache still serves the lists from before the writes

	assert.Empty(t, drain(rec), "no event is recorded twice for one transition")
	assert.Equal(t, firstPatches, stale.patches, "no status is written twice")
}

func drain(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// watchingClient serves List from a frozen copy, and while it lists, the
// watch delivers each request at its newest version (the informer's store
// moved on right after the list was taken).
type watchingClient struct {
	*staleClient
	rc *Reconciler
}

func (c *watchingClient) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := c.staleClient.List(ctx, list, opts...); err != nil {
		return err
	}
	if _, ok := list.(*v1alpha1.APIServiceExportRequestList); !ok || c.rc == nil {
		return nil
	}
	var live v1alpha1.APIServiceExportRequestList
	if err := c.staleClient.Client.List(ctx, &live); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		for i := range live.Items {
			c.rc.cached(&live.Items[i])
		}
		close(done)
	}()
	select { // the watch gets its turn while the list is being read
	case <-done:
	case <-time.After(100 * time.Millisecond):
	}
	return nil
}

// TestTheWatchCatchingUpWhileListingMakesNoSecondWrite: a written status
// the watch shows in the cache is forgotten, but not between a list that
// still shows the object as it was and the reconcile's look at it.
func TestTheWatchCatchingUpWhileListingMakesNoSecondWrite(t *testing.T) {
	h := newHarness(t, newRequest("pg", "postgresql"))
	stale := &staleClient{Client: h.client}
	stale.freeze(t)
	watching := &watchingClient{staleClient: stale}
	rec := events.NewFakeRecorder(100)
	var err error
	h.rc, err = New(Options{Client: watching, APIReader: h.client, Repo: h.repo, Applier: h.applier, Recorder: rec, Now: h.rc.opts.Now})
	require.NoError(t, err)
	h.reconcile()
	require.Equal(t, "True", string(condition(h.request("pg"), v1alpha1.ReadyCondition).Status), "the first reconcile binds")
	first, firstPatches := drain(rec), stale.patches
	require.NotEmpty(t, first)

	watching.rc = h.rc
	h.reconcile()

	assert.Empty(t, drain(rec), "no event is recorded twice for one transition")
	assert.Equal(t, firstPatches, stale.patches, "no status is written twice")
}
