package instances

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

var bindingsGVR = v1alpha1.GroupVersion.WithResource("apiservicebindings")

// maxListedFailures is how many failures the InstancesSynced message names.
const maxListedFailures = 3

// statusDelay gathers the results of many instances into one status write.
const statusDelay = 200 * time.Millisecond

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// setResult records an instance's outcome; a change queues its binding's
// status, and a new failure becomes a Warning event on the app object.
func (s *Syncer) setResult(k key, app *unstructured.Unstructured, r result) {
	s.mu.Lock()
	m := s.results[k.binding]
	if m == nil {
		m = map[string]result{}
		s.results[k.binding] = m
	}
	id := k.ns + "/" + k.name
	old, had := m[id]
	m[id] = r
	s.mu.Unlock()
	if had && old == r {
		return
	}
	s.queue.AddAfter(key{kind: statusKey, binding: k.binding}, statusDelay)
	if r.state == stateFailed && s.opts.Events != nil {
		s.opts.Events.Eventf(app, corev1.EventTypeWarning, v1alpha1.SyncFailedReason, "%s", r.msg)
	}
}

func (s *Syncer) clearResult(k key) {
	s.mu.Lock()
	_, had := s.results[k.binding][k.ns+"/"+k.name]
	delete(s.results[k.binding], k.ns+"/"+k.name)
	s.mu.Unlock()
	if had {
		s.queue.AddAfter(key{kind: statusKey, binding: k.binding}, statusDelay)
	}
}

// settleTimeout bounds how long a binding's first status write waits for
// every instance to be looked at: an instance stuck behind a cache that
// never lists (a namespace the agent cannot read yet) must not hide the
// others' outcome for good.
const settleTimeout = 30 * time.Second

// errNotConnected is the control plane's state before any call answered or
// failed: not a finding to report.
var errNotConnected = errors.New("not connected yet")

// instancesCondition is what a binding's InstancesSynced condition and
// status.instances should say. Until the syncer has looked at every
// instance of the API once (see apiState.settled), ok is false and retry
// says when to work it out again.
func (s *Syncer) instancesCondition(binding string) (cond metav1.Condition, counts v1alpha1.InstanceCounts, retry time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.apis[binding]
	if !ok || st.releasing != "" {
		return cond, counts, 0, false
	}
	if st.firstStatus.IsZero() {
		st.firstStatus = time.Now()
	}
	cond = metav1.Condition{Type: v1alpha1.InstancesSyncedCondition, Status: metav1.ConditionFalse}
	if !st.api.Namespaced {
		cond.Reason = v1alpha1.UnsupportedScopeReason
		cond.Message = fmt.Sprintf("%s is cluster-scoped: instances of cluster-scoped APIs are not synced in this version", binding)
		return cond, counts, 0, true
	}
	if !st.app.synced() {
		return cond, counts, time.Second, false
	}
	var failed, pending []string
	var total, unavailable, unseen int32
	results := s.results[binding]
	for _, o := range st.app.list() {
		m, isObj := o.(metav1.Object)
		if !isObj {
			continue
		}
		total++
		r, seen := results[m.GetNamespace()+"/"+m.GetName()]
		switch {
		case !seen:
			unavailable++ // not synced yet
			unseen++
		case r.state == stateSynced:
			counts.Synced++
		case r.state == stateFailed:
			failed = append(failed, m.GetNamespace()+"/"+m.GetName()+": "+r.msg)
		case r.state == statePending:
			pending = append(pending, m.GetNamespace())
		default:
			unavailable++
			if s.cpDown == nil {
				// Looked at before the control plane (or the copy's
				// cache) answered: it is looked at again now.
				unseen++
			}
		}
	}
	if !st.settled {
		if retry := s.settleWaitLocked(st, unseen); retry > 0 {
			return cond, counts, retry, false
		}
		st.settled = true
	}
	counts.Failed = int32(len(failed))
	sort.Strings(failed)
	switch {
	case s.cpDown != nil:
		cond.Reason = v1alpha1.ControlPlaneUnavailableReason
		cond.Message = fmt.Sprintf("%d of %d not synced: %v", total-counts.Synced, total, s.cpDown)
	case len(failed) > 0:
		cond.Reason = v1alpha1.SyncFailedReason
		cond.Message = fmt.Sprintf("%d of %d not synced: %s", total-counts.Synced, total, strings.Join(first(failed, maxListedFailures), "; "))
	case len(pending) > 0:
		cond.Reason = v1alpha1.NamespacePendingReason
		cond.Message = fmt.Sprintf("%d of %d not synced: waiting for the control-plane namespace of %s", total-counts.Synced, total,
			strings.Join(first(uniq(pending), maxListedFailures), ", "))
	case unavailable > 0:
		cond.Reason = v1alpha1.ProgressingReason
		cond.Message = fmt.Sprintf("%d of %d synced", counts.Synced, total)
	default:
		cond.Status = metav1.ConditionTrue
		cond.Reason = v1alpha1.SucceededReason
		cond.Message = fmt.Sprintf("%d of %d synced", counts.Synced, total)
	}
	return cond, counts, 0, true
}

// settleWaitLocked says how long the first status of an API still waits
// (0: write it now). It waits while the control plane has not answered or
// failed yet, or some instances have not been looked at, and at most
// settleTimeout: after a restart the first write then carries the whole
// outcome, which is most often what the binding already holds, so nothing
// is written at all.
func (s *Syncer) settleWaitLocked(st *apiState, unseen int32) time.Duration {
	if !errors.Is(s.cpDown, errNotConnected) && unseen == 0 {
		return 0
	}
	left := settleTimeout - time.Since(st.firstStatus)
	if left <= 0 {
		return 0
	}
	return min(left, time.Second)
}

// syncStatus writes a binding's InstancesSynced condition and
// status.instances, only when they differ from what it says: server-side
// apply on the status subresource as StatusFieldManager, which owns those
// two fields and nothing else, so the agent's own status writes keep them
// and they keep the agent's.
func (s *Syncer) syncStatus(ctx context.Context, binding string) error {
	cond, counts, retry, ok := s.instancesCondition(binding)
	if retry > 0 {
		s.queue.AddAfter(key{kind: statusKey, binding: binding}, retry)
	}
	if !ok {
		return nil
	}
	live, err := s.app.Resource(bindingsGVR).Get(ctx, binding, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read APIServiceBinding %s: %w", binding, err)
	}
	var b v1alpha1.APIServiceBinding
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, &b); err != nil {
		return fmt.Errorf("read APIServiceBinding %s: %w", binding, err)
	}
	s.mu.Lock()
	restored := s.restored[binding]
	s.mu.Unlock()
	if b.Status.Instances != nil {
		counts.Restored = b.Status.Instances.Restored
	}
	counts.Restored += restored
	cond.ObservedGeneration = b.Generation
	cond.LastTransitionTime = metav1.NewTime(time.Now().Truncate(time.Second))
	old := apimeta.FindStatusCondition(b.Status.Conditions, v1alpha1.InstancesSyncedCondition)
	if old != nil {
		if old.Status == cond.Status && old.Reason == cond.Reason && old.Message == cond.Message &&
			old.ObservedGeneration == cond.ObservedGeneration && reflect.DeepEqual(b.Status.Instances, &counts) {
			return nil
		}
		if old.Status == cond.Status {
			cond.LastTransitionTime = old.LastTransitionTime
		}
	}
	condMap, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&cond)
	if err != nil {
		return err
	}
	apply := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(), "kind": "APIServiceBinding",
		"metadata": map[string]any{"name": binding},
		"status": map[string]any{
			"conditions": []any{condMap},
			"instances":  map[string]any{"synced": int64(counts.Synced), "failed": int64(counts.Failed), "restored": int64(counts.Restored)},
		},
	}}
	if _, err := s.app.Resource(bindingsGVR).ApplyStatus(ctx, binding, apply,
		metav1.ApplyOptions{FieldManager: StatusFieldManager, Force: true}); err != nil {
		return fmt.Errorf("write InstancesSynced of APIServiceBinding %s: %w", binding, err)
	}
	s.mu.Lock()
	s.restored[binding] -= restored
	s.mu.Unlock()
	return nil
}

func first(xs []string, n int) []string {
	if len(xs) > n {
		return xs[:n]
	}
	return xs
}

func uniq(xs []string) []string {
	sort.Strings(xs)
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}
