package backend

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	typedeventsv1 "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/record/util"
	"k8s.io/client-go/tools/reference"
)

// Defaults of EventSenderOptions.
const (
	DefaultEventQueue   = 256
	DefaultEventSenders = 4
	// noteLimit is the most bytes the API server takes in an event's note.
	noteLimit = 1024
)

// EventSenderOptions configure an EventSender.
type EventSenderOptions struct {
	// Controller is the events' reportingController; the reporting
	// instance is Controller-<hostname>.
	Controller string
	// Queue is how many events may wait to be sent; a full queue makes
	// Eventf wait (0: DefaultEventQueue).
	Queue int
	// Senders is how many events are sent at once (0: DefaultEventSenders).
	Senders int
	// Log receives every event at V(1) and the ones the API server refused.
	Log logr.Logger
}

// EventSender records the backend's Kubernetes events (events.k8s.io/v1)
// through a bounded queue that a few senders drain. It implements
// events.EventRecorder.
//
// client-go's event broadcaster starts two goroutines per event and keeps a
// copy of each until the API server has taken it, and another copy of every
// event for minutes after, to fold repeats into a series. The first
// reconcile at 1000 clusters records an event for each of 10,000 requests,
// far faster than the API server takes them: they piled up in memory. Here a
// full queue makes Eventf wait; the reconcile's status writes, which the
// events are interleaved with, go no faster than the API server anyway. So
// what events cost in memory is bounded by Queue, whatever their number.
//
// Events are best effort, as in Kubernetes: one the API server refuses, or
// that it cannot take because it is away, is logged and dropped; the
// object's status is the record. Until Start runs, and after it returns,
// nothing is sent; after it returns, Eventf drops events instead of waiting.
type EventSender struct {
	events   typedeventsv1.EventsGetter
	scheme   *runtime.Scheme
	opts     EventSenderOptions
	instance string
	queue    chan *eventsv1.Event
	stopped  chan struct{}
	stop     sync.Once
}

var _ events.EventRecorder = (*EventSender)(nil)

// NewEventSender returns an EventSender writing through c; scheme resolves
// the kinds of the objects events regard.
func NewEventSender(c typedeventsv1.EventsGetter, scheme *runtime.Scheme, o EventSenderOptions) *EventSender {
	if o.Queue <= 0 {
		o.Queue = DefaultEventQueue
	}
	if o.Senders <= 0 {
		o.Senders = DefaultEventSenders
	}
	host, _ := os.Hostname()
	return &EventSender{events: c, scheme: scheme, opts: o, instance: o.Controller + "-" + host,
		queue: make(chan *eventsv1.Event, o.Queue), stopped: make(chan struct{})}
}

// Eventf queues an event on regarding, waiting while the queue is full.
// The arguments are those of events.EventRecorder.
func (s *EventSender) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	ev, err := s.event(regarding, related, eventtype, reason, action, fmt.Sprintf(note, args...))
	if err != nil {
		s.opts.Log.Error(err, "event not recorded", "reason", reason, "action", action)
		return
	}
	select {
	case <-s.stopped:
		return
	default:
	}
	select {
	case s.queue <- ev:
	case <-s.stopped:
	}
}

func (s *EventSender) event(regarding, related runtime.Object, eventtype, reason, action, note string) (*eventsv1.Event, error) {
	ref, err := reference.GetReference(s.scheme, regarding)
	if err != nil {
		return nil, fmt.Errorf("reference to the regarding object: %w", err)
	}
	ev := &eventsv1.Event{
		EventTime:           metav1.NowMicro(),
		ReportingController: s.opts.Controller,
		ReportingInstance:   s.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Note:                truncate(note, noteLimit),
		Type:                eventtype,
	}
	ev.Namespace = ref.Namespace
	if ev.Namespace == "" {
		ev.Namespace = metav1.NamespaceDefault
	}
	ev.Name = util.GenerateEventName(ref.Name, ev.EventTime.UnixNano())
	if related != nil {
		if rel, err := reference.GetReference(s.scheme, related); err == nil {
			ev.Related = rel
		}
	}
	return ev, nil
}

// Start sends queued events until ctx is done (manager.Runnable).
func (s *EventSender) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for range s.opts.Senders {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-s.queue:
					s.send(ctx, ev)
				}
			}
		})
	}
	<-ctx.Done()
	s.stop.Do(func() { close(s.stopped) })
	wg.Wait()
	return nil
}

// NeedLeaderElection is false: a standby replica records nothing, and a
// leader that loses its lease sends what it recorded.
func (s *EventSender) NeedLeaderElection() bool { return false }

func (s *EventSender) send(ctx context.Context, ev *eventsv1.Event) {
	log := s.opts.Log.WithValues("object", ev.Regarding.Namespace+"/"+ev.Regarding.Name, "kind", ev.Regarding.Kind,
		"type", ev.Type, "reason", ev.Reason, "action", ev.Action)
	log.V(1).Info(ev.Note)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := s.events.Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{}); err != nil && ctx.Err() == nil {
		metricEventsDropped.Inc()
		log.Error(err, "event not recorded", "note", ev.Note)
		return
	}
	metricEventsSent.Inc()
}

// truncate cuts s to at most n bytes, on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "..."
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
