package instances

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

type keyKind int

const (
	instanceKey keyKind = iota // an instance of a bound API: binding, app ns, name
	claimKey                   // a claimed object: resource, app ns, name
	statusKey                  // a binding's InstancesSynced condition
)

func (k keyKind) String() string {
	switch k {
	case instanceKey:
		return "instance"
	case claimKey:
		return "claimed object"
	default:
		return "binding status"
	}
}

// key is one unit of work of the queue.
type key struct {
	kind     keyKind
	binding  string
	res      string
	ns, name string
}

// state is where one instance stands.
type state int

const (
	stateSynced state = iota
	stateFailed
	statePending     // waiting for its control-plane namespace
	stateUnavailable // the control plane did not answer
)

// result is the outcome of the last sync of one instance.
type result struct {
	state state
	msg   string
}

// errWait means the instance waits for something on its way (a namespace,
// an informer, a copy being deleted); it is synced again by the event that
// ends the wait, or after a short delay.
var errWait = errors.New("waiting")

// errNotSynced means a cache the sync needs has not listed yet (just
// started, or the control plane does not answer): retried with backoff, so
// thousands of instances do not spin while the control plane is away; its
// return syncs everything again.
var errNotSynced = errors.New("cache not synced")

func (s *Syncer) processNext(ctx context.Context) bool {
	k, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(k)
	var err error
	switch k.kind {
	case instanceKey:
		err = s.syncInstance(ctx, k)
	case claimKey:
		err = s.syncClaim(ctx, k)
	case statusKey:
		err = s.syncStatus(ctx, k.binding)
	}
	switch {
	case errors.Is(err, errWait):
		s.queue.AddAfter(k, 200*time.Millisecond)
	case errors.Is(err, errNotSynced):
		s.queue.AddRateLimited(k)
	case err != nil:
		log.FromContext(ctx).Error(err, "instance sync failed; retrying", "kind", k.kind.String(),
			"binding", k.binding, "resource", k.res, "namespace", k.ns, "name", k.name)
		s.queue.AddRateLimited(k)
	default:
		s.queue.Forget(k)
	}
	return true
}

// observe records a write's latency since the change was first seen.
func (s *Syncer) observe(k key, direction string) {
	syncedTotal.WithLabelValues(direction).Inc()
	s.mu.Lock()
	t, ok := s.seen[k]
	delete(s.seen, k)
	s.mu.Unlock()
	if ok {
		syncSeconds.Observe(time.Since(t).Seconds())
	}
}

func (s *Syncer) done(k key) {
	s.mu.Lock()
	delete(s.seen, k)
	s.mu.Unlock()
}

// syncInstance syncs one app object with its provider copy, in that order:
// namespace, finalizer, spec up, status down; or the deletion; or the
// restore of a copy without its app object.
func (s *Syncer) syncInstance(ctx context.Context, k key) error {
	s.mu.Lock()
	st, ok := s.apis[k.binding]
	if !ok || !st.api.Namespaced || st.releasing == v1alpha1.DeletionOrphan {
		s.mu.Unlock()
		s.done(k)
		return nil
	}
	api, appInf := st.api, st.app
	instNs := s.nsOf[k.ns]
	nsKnown := s.control.namespaces.synced()
	// The cache holds the APIServiceNamespace but its event was not handled
	// yet (just started): wait for it rather than ask again or say the
	// namespace is pending.
	nsLagging := instNs == "" && !s.asked[k.ns] && s.control.namespaces.get(s.clusterNs, k.ns) != nil
	cpDown := s.cpDown
	cpInf := s.cpInf[nsResource{gvr: api.gvr(), ns: instNs}]
	if cpInf == nil && instNs != "" {
		cpInf = s.ensureCPInformerLocked(api.gvr(), instNs)
	}
	s.mu.Unlock()

	if !appInf.synced() {
		return errNotSynced
	}
	app := appInf.get(k.ns, k.name)
	if !nsKnown {
		if app != nil {
			s.setResult(k, app, result{state: stateUnavailable, msg: errString(cpDown)})
		}
		return errNotSynced
	}
	if nsLagging {
		return errWait
	}
	if instNs == "" {
		return s.requestNamespace(ctx, k, api, app)
	}
	if !cpInf.synced() {
		if app != nil {
			s.setResult(k, app, result{state: stateUnavailable, msg: errString(cpDown)})
		}
		return errNotSynced
	}
	copy := cpInf.get(instNs, k.name)
	var err error
	switch {
	case app == nil && copy == nil:
		s.clearResult(k)
		s.done(k)
		return nil
	case app == nil:
		err = s.restore(ctx, k, api, copy, instNs)
	case app.GetDeletionTimestamp() != nil:
		err = s.deleteCopy(ctx, k, api, app, copy, instNs)
	default:
		err = s.syncUpAndDown(ctx, k, api, app, copy, instNs)
	}
	if app != nil {
		s.recordOutcome(k, app, err)
	}
	return err
}

// recordOutcome turns a sync's error into the instance's result, an event
// on its app object (once per new failure) and a failure metric.
func (s *Syncer) recordOutcome(k key, app *unstructured.Unstructured, err error) {
	switch {
	case err == nil || errors.Is(err, errWait):
		s.setResult(k, app, result{state: stateSynced})
	case isUnavailable(err):
		syncFailures.WithLabelValues(v1alpha1.ControlPlaneUnavailableReason).Inc()
		s.controlPlaneFailed(err)
		s.setResult(k, app, result{state: stateUnavailable, msg: err.Error()})
	default:
		syncFailures.WithLabelValues(string(apierrors.ReasonForError(err))).Inc()
		s.setResult(k, app, result{state: stateFailed, msg: err.Error()})
	}
}

// requestNamespace creates the APIServiceNamespace of the app namespace the
// first time an instance appears there; the instance waits for its status.
// A deleted app object that carries the finalizer waits too: a copy may
// exist in the namespace (its APIServiceNamespace was deleted and is asked
// for again), unless the backend refused the namespace, so none can.
func (s *Syncer) requestNamespace(ctx context.Context, k key, api API, app *unstructured.Unstructured) error {
	if app == nil {
		s.clearResult(k)
		return nil
	}
	deleting := app.GetDeletionTimestamp() != nil
	if deleting && !hasFinalizer(app) {
		return nil
	}
	if why := s.namespaceRefused(k.ns); why != "" {
		if deleting {
			return s.setFinalizer(ctx, api, app, false)
		}
		s.recordOutcome(k, app, fmt.Errorf("control-plane namespace for %s refused by the backend: %s", k.ns, why))
		return nil // the APIServiceNamespace's next change syncs it again
	}
	s.mu.Lock()
	asked := s.asked[k.ns]
	s.mu.Unlock()
	if !asked {
		req := &unstructured.Unstructured{}
		req.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("APIServiceNamespace"))
		req.SetName(k.ns)
		req.SetNamespace(s.clusterNs)
		_, err := s.cp.Resource(namespacesGVR).Namespace(s.clusterNs).Create(ctx, req, metav1.CreateOptions{FieldManager: FieldManager})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			err = fmt.Errorf("request control-plane namespace for %s: %w", k.ns, err)
			s.recordOutcome(k, app, err)
			return err
		}
		s.mu.Lock()
		s.asked[k.ns] = true
		s.mu.Unlock()
	}
	s.setResult(k, app, result{state: statePending, msg: k.ns})
	return nil
}

// namespaceRefused returns the message of an APIServiceNamespace the
// backend refused (Ready=False InvalidNamespace), "" otherwise.
func (s *Syncer) namespaceRefused(appNs string) string {
	s.mu.Lock()
	o := s.control.namespaces.get(s.clusterNs, appNs)
	s.mu.Unlock()
	if o == nil {
		return ""
	}
	conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == v1alpha1.ReadyCondition && m["status"] == string(metav1.ConditionFalse) && m["reason"] == v1alpha1.InvalidNamespaceReason {
			msg, _ := m["message"].(string)
			return msg
		}
	}
	return ""
}

// syncUpAndDown makes sure the app object has the finalizer, its copy the
// app object's spec and metadata, and the app object the copy's status;
// then its claimed objects follow.
func (s *Syncer) syncUpAndDown(ctx context.Context, k key, api API, app, copy *unstructured.Unstructured, instNs string) error {
	if !hasFinalizer(app) {
		// The finalizer first: a copy must never exist without it. The
		// sync goes on with the object the patch returned.
		patched, err := s.patchFinalizer(ctx, api, app, true)
		if err != nil || patched == nil {
			return err
		}
		app = patched
	}
	desired := desiredCopy(app, s.opts.Cluster, instNs)
	if copy == nil || !copyUpToDate(copy, desired) {
		written, err := s.cp.Resource(api.gvr()).Namespace(instNs).Apply(ctx, k.name, desired,
			metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
		if err != nil {
			return fmt.Errorf("write copy %s/%s on the control plane: %w", instNs, k.name, err)
		}
		s.observe(k, "up")
		copy = written
	}
	if !statusEqual(app, copy) {
		st := &unstructured.Unstructured{Object: map[string]any{}}
		st.SetAPIVersion(app.GetAPIVersion())
		st.SetKind(app.GetKind())
		st.SetName(app.GetName())
		st.SetNamespace(app.GetNamespace())
		status, _ := copy.Object["status"].(map[string]any)
		if status == nil {
			status = map[string]any{}
		}
		st.Object["status"] = status
		if _, err := s.app.Resource(api.gvr()).Namespace(k.ns).ApplyStatus(ctx, k.name, st,
			metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
			return fmt.Errorf("write status of %s %s/%s from its copy: %w", api.GVK.Kind, k.ns, k.name, err)
		}
		s.observe(k, "down")
	}
	s.done(k)
	s.enqueueReferenced(api, app)
	return nil
}

// deleteCopy carries an app object's deletion: delete the copy, wait until
// it is gone (the provider's finalizers may hold it), and only then remove
// the finalizer. A copy is taken as gone only when the control plane says
// so, never because a cache lacks it.
func (s *Syncer) deleteCopy(ctx context.Context, k key, api API, app, copy *unstructured.Unstructured, instNs string) error {
	if !hasFinalizer(app) {
		return nil
	}
	res := s.cp.Resource(api.gvr()).Namespace(instNs)
	if copy == nil {
		live, err := res.Get(ctx, k.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return s.setFinalizer(ctx, api, app, false)
		case err != nil:
			return fmt.Errorf("read copy %s/%s: %w", instNs, k.name, err)
		}
		copy = live
	}
	if copy.GetDeletionTimestamp() != nil {
		return errWait
	}
	if !isCopyOf(copy, s.opts.Cluster, k.ns, k.name) {
		return fmt.Errorf("copy %s/%s was not written for %s/%s of cluster %s: not deleted", instNs, k.name, k.ns, k.name, s.opts.Cluster)
	}
	uid := copy.GetUID()
	err := res.Delete(ctx, k.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete copy %s/%s: %w", instNs, k.name, err)
	}
	return errWait
}

// restore makes the app object again from a copy whose app object is
// missing. A copy is never deleted for that.
func (s *Syncer) restore(ctx context.Context, k key, api API, copy *unstructured.Unstructured, instNs string) error {
	if copy.GetDeletionTimestamp() != nil || !isCopyOf(copy, s.opts.Cluster, k.ns, k.name) {
		s.done(k)
		return nil
	}
	res := s.app.Resource(api.gvr()).Namespace(k.ns)
	if _, err := res.Get(ctx, k.name, metav1.GetOptions{}); err == nil {
		return nil // the cache is behind: the app object exists
	} else if !apierrors.IsNotFound(err) {
		return fmt.Errorf("read %s %s/%s: %w", api.GVK.Kind, k.ns, k.name, err)
	}
	made, err := res.Create(ctx, restoredObject(copy, k.ns), metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		err = fmt.Errorf("restore %s %s/%s from copy %s/%s: %w", api.GVK.Kind, k.ns, k.name, instNs, k.name, err)
		syncFailures.WithLabelValues(string(apierrors.ReasonForError(err))).Inc()
		return err
	}
	copiesRestored.Inc()
	s.observe(k, "down")
	s.mu.Lock()
	s.restored[k.binding]++
	s.mu.Unlock()
	if s.opts.Events != nil {
		s.opts.Events.Eventf(made, corev1.EventTypeNormal, v1alpha1.CopyRestoredReason,
			"restored from its provider copy %s/%s on the control plane (the app object was missing; the copy was kept)", instNs, k.name)
	}
	s.queue.Add(key{kind: statusKey, binding: k.binding})
	return nil
}

// setFinalizer adds or removes the instance finalizer with a merge patch
// that carries the resourceVersion read, so a concurrent change of the
// finalizers fails with a conflict instead of being overwritten.
func (s *Syncer) setFinalizer(ctx context.Context, api API, o *unstructured.Unstructured, add bool) error {
	_, err := s.patchFinalizer(ctx, api, o, add)
	return err
}

// patchFinalizer is setFinalizer returning the patched object (nil when the
// object is gone).
func (s *Syncer) patchFinalizer(ctx context.Context, api API, o *unstructured.Unstructured, add bool) (*unstructured.Unstructured, error) {
	var fins []string
	for _, f := range o.GetFinalizers() {
		if f != v1alpha1.InstanceFinalizer {
			fins = append(fins, f)
		}
	}
	if add {
		fins = append(fins, v1alpha1.InstanceFinalizer)
	}
	if fins == nil {
		fins = []string{}
	}
	patch, err := jsonMarshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": o.GetResourceVersion(), "finalizers": fins}})
	if err != nil {
		return nil, err
	}
	patched, err := s.app.Resource(api.gvr()).Namespace(o.GetNamespace()).Patch(ctx, o.GetName(), types.MergePatchType, patch,
		metav1.PatchOptions{FieldManager: FieldManager})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		verb := "remove"
		if add {
			verb = "add"
		}
		return nil, fmt.Errorf("%s finalizer %s on %s %s/%s: %w", verb, v1alpha1.InstanceFinalizer, api.GVK.Kind, o.GetNamespace(), o.GetName(), err)
	}
	patched.SetManagedFields(nil)
	return patched, nil
}

// isUnavailable reports a transport failure (no answer from the server),
// as opposed to an answer that refuses.
func isUnavailable(err error) bool {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return apierrors.IsServiceUnavailable(err) || apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err)
	}
	return !errors.Is(err, context.Canceled)
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

func errString(err error) string {
	if err == nil {
		return "control plane not synced yet"
	}
	return err.Error()
}
