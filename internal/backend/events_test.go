package backend

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// recorded is one event as a recorder received it.
type recorded struct {
	object, typ, reason, action, note string
}

// listRecorder keeps every event it is given.
type listRecorder struct {
	mu     sync.Mutex
	events []recorded
}

func (l *listRecorder) Eventf(regarding, _ runtime.Object, eventtype, reason, action, note string, args ...any) {
	o := regarding.(client.Object)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, recorded{object: fmt.Sprintf("%T %s", o, client.ObjectKeyFromObject(o)),
		typ: eventtype, reason: reason, action: action, note: fmt.Sprintf(note, args...)})
}

func (l *listRecorder) take() []recorded {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.events
	l.events = nil
	return out
}

func perObject(evs []recorded) map[string][]recorded {
	out := map[string][]recorded{}
	for _, e := range evs {
		out[e.object] = append(out[e.object], e)
	}
	return out
}

// TestEachObjectGetsOneEventPerReconcile: whatever changed of an object's
// conditions in one reconcile is one event on it, saying every change.
func TestEachObjectGetsOneEventPerReconcile(t *testing.T) {
	manual := &v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: "pg-manual"},
		Spec: v1alpha1.APIServiceExportTemplateSpec{Approval: v1alpha1.ApprovalManual,
			Resources: []v1alpha1.GroupResource{{Group: "anynines.com", Resource: "postgresqlinstances"}}}}
	reqKey := "*v1alpha1.APIServiceExportRequest bindsync-c1/pg"
	cases := []struct {
		name      string
		objs      []client.Object
		reconcile int // reconciles before the one whose events are checked
		want      map[string]recorded
		notes     map[string][]string // substrings of each object's note
	}{
		{
			name: "a request approved and applied in one reconcile: one Normal event naming both",
			objs: []client.Object{newRequest("pg", "postgresql")},
			want: map[string]recorded{
				reqKey: {typ: "Normal", reason: v1alpha1.SucceededReason, action: "Approved,Ready"},
				"*v1alpha1.APIServiceExportTemplate /postgresql": {typ: "Normal", reason: v1alpha1.SucceededReason, action: "Ready"},
			},
			notes: map[string][]string{reqKey: {"Approved Succeeded: ", "Automatic", "; Ready Succeeded: applied at main@sha1:"}},
		},
		{
			name: "a request waiting for approval: one Warning with the first reason not True",
			objs: []client.Object{manual, newRequest("pg", "pg-manual")},
			want: map[string]recorded{
				reqKey: {typ: "Warning", reason: v1alpha1.PendingApprovalReason, action: "Approved,Ready"},
				"*v1alpha1.APIServiceExportTemplate /postgresql": {typ: "Normal", reason: v1alpha1.SucceededReason, action: "Ready"},
				"*v1alpha1.APIServiceExportTemplate /pg-manual":  {typ: "Normal", reason: v1alpha1.SucceededReason, action: "Ready"},
			},
			notes: map[string][]string{reqKey: {"Approved PendingApproval: ", "bindsync/approve/c1/pg"}},
		},
		{
			name:      "nothing changed: no event",
			objs:      []client.Object{newRequest("pg", "postgresql")},
			reconcile: 1,
			want:      map[string]recorded{},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.objs...)
			rec := &listRecorder{}
			h.rc.opts.Recorder = rec
			for range tc.reconcile {
				h.reconcile()
			}
			rec.take()

			h.reconcile()

			got := perObject(rec.take())
			require.Len(t, got, len(tc.want), "objects with events: %v", got)
			for obj, want := range tc.want {
				require.Len(t, got[obj], 1, "one event on %s: %v", obj, got[obj])
				e := got[obj][0]
				assert.Equal(t, want.typ, e.typ, obj)
				assert.Equal(t, want.reason, e.reason, obj)
				assert.Equal(t, want.action, e.action, obj)
				for _, s := range tc.notes[obj] {
					assert.Contains(t, e.note, s, obj)
				}
			}
		})
	}
}

// blockingEvents is a clientset whose event creates wait until released,
// counting the events created.
func blockingEvents(release <-chan struct{}) (*fake.Clientset, *atomic.Int32) {
	cs := fake.NewClientset()
	var created atomic.Int32
	cs.PrependReactor("create", "events", func(a k8stesting.Action) (bool, runtime.Object, error) {
		<-release
		created.Add(1)
		return false, nil, nil // the tracker stores it
	})
	return cs, &created
}

// TestTheEventSenderBoundsWhatWaits: events the API server has not taken
// yet are at most Queue waiting plus Senders being sent; one more makes
// Eventf wait until one is sent, and every one is sent in the end.
func TestTheEventSenderBoundsWhatWaits(t *testing.T) {
	release := make(chan struct{})
	cs, created := blockingEvents(release)
	s := NewEventSender(cs.EventsV1(), Scheme(), EventSenderOptions{Controller: "bindsync-backend", Queue: 3, Senders: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Start(ctx) }()

	const n = 10
	var returned atomic.Int32
	go func() {
		for i := range n {
			q := newRequest(fmt.Sprintf("r%d", i), "postgresql")
			s.Eventf(q, nil, "Normal", v1alpha1.SucceededReason, v1alpha1.ReadyCondition, "applied %d", i)
			returned.Add(1)
		}
	}()
	require.Eventually(t, func() bool { return returned.Load() == 5 }, 5*time.Second, 10*time.Millisecond,
		"three queued and two being sent")
	time.Sleep(100 * time.Millisecond)
	assert.EqualValues(t, 5, returned.Load(), "the sixth event waits: the queue is full")
	assert.Zero(t, created.Load())

	close(release)
	require.Eventually(t, func() bool { return created.Load() == n }, 5*time.Second, 10*time.Millisecond)
	assert.EqualValues(t, n, returned.Load())
	cancel()
	require.NoError(t, <-done)

	list, err := cs.EventsV1().Events("bindsync-c1").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, list.Items, n)
	for _, ev := range list.Items {
		assert.Equal(t, "bindsync-backend", ev.ReportingController)
		assert.True(t, strings.HasPrefix(ev.ReportingInstance, "bindsync-backend-"), ev.ReportingInstance)
		assert.Equal(t, "APIServiceExportRequest", ev.Regarding.Kind)
		assert.Equal(t, v1alpha1.GroupVersion.String(), ev.Regarding.APIVersion)
		assert.True(t, strings.HasPrefix(ev.Name, ev.Regarding.Name+"."), ev.Name)
		assert.Equal(t, v1alpha1.ReadyCondition, ev.Action)
		assert.Equal(t, v1alpha1.SucceededReason, ev.Reason)
		assert.Contains(t, ev.Note, "applied ")
		assert.False(t, ev.EventTime.IsZero())
	}
}

// TestAnEventNoteIsCutToWhatTheAPIServerTakes: the API server refuses a
// note over 1024 bytes; a longer message is cut, and a cluster-scoped
// object's event goes to the default namespace.
func TestAnEventNoteIsCutToWhatTheAPIServerTakes(t *testing.T) {
	release := make(chan struct{})
	close(release)
	cs, _ := blockingEvents(release)
	s := NewEventSender(cs.EventsV1(), Scheme(), EventSenderOptions{Controller: "bindsync-backend"})
	tpl := &v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: "postgresql"}}

	s.Eventf(tpl, nil, "Warning", v1alpha1.SchemaBreakingReason, v1alpha1.ReadyCondition, "%s", strings.Repeat("é", 1000))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Start(ctx) }()
	var list *eventsv1.EventList
	require.Eventually(t, func() bool {
		var err error
		list, err = cs.EventsV1().Events(metav1.NamespaceDefault).List(context.Background(), metav1.ListOptions{})
		return err == nil && len(list.Items) == 1
	}, 5*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-done)

	note := list.Items[0].Note
	assert.LessOrEqual(t, len(note), 1024)
	assert.True(t, strings.HasSuffix(note, "é..."), "cut on a character boundary and marked")

	for range 2 * DefaultEventQueue {
		s.Eventf(tpl, nil, "Normal", v1alpha1.SucceededReason, v1alpha1.ReadyCondition, "after stop")
	}
	assert.Empty(t, s.queue, "a stopped sender drops events instead of waiting for senders that are gone")
}
