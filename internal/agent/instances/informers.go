package instances

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

var (
	namespacesGVR = v1alpha1.GroupVersion.WithResource("apiservicenamespaces")
	exportsGVR    = v1alpha1.GroupVersion.WithResource("apiserviceexports")
)

// informer is one shared dynamic informer and the channel that stops it.
type informer struct {
	inf  cache.SharedIndexInformer
	stop chan struct{}
}

// newInformer starts an informer of gvr in ns ("" all namespaces) with
// managed fields stripped (they are most of an object's memory and the sync
// never reads them), calling onChange with each object's namespace and name.
// onError is told about list and watch failures.
func newInformer(c dynamic.Interface, gvr schema.GroupVersionResource, ns string, resync time.Duration,
	onChange func(ns, name string), onError func(error)) *informer {
	inf := dynamicinformer.NewFilteredDynamicInformer(c, gvr, ns, resync,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}, nil).Informer()
	_ = inf.SetTransform(func(o any) (any, error) {
		if m, ok := o.(metav1.Object); ok {
			m.SetManagedFields(nil)
		}
		return o, nil
	})
	if onError != nil {
		_ = inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) { onError(err) })
	}
	handle := func(o any) {
		if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
			o = d.Obj
		}
		if m, ok := o.(metav1.Object); ok {
			onChange(m.GetNamespace(), m.GetName())
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    handle,
		UpdateFunc: func(_, n any) { handle(n) },
		DeleteFunc: handle,
	})
	i := &informer{inf: inf, stop: make(chan struct{})}
	go inf.Run(i.stop)
	return i
}

func (i *informer) close() {
	if i != nil {
		close(i.stop)
	}
}

func (i *informer) synced() bool { return i != nil && i.inf.HasSynced() }

// get returns the cached object ns/name, nil when absent.
func (i *informer) get(ns, name string) *unstructured.Unstructured {
	if i == nil {
		return nil
	}
	k := name
	if ns != "" {
		k = ns + "/" + name
	}
	o, ok, _ := i.inf.GetIndexer().GetByKey(k)
	if !ok {
		return nil
	}
	u, _ := o.(*unstructured.Unstructured)
	return u
}

// list returns every cached object (none for a nil informer: a
// cluster-scoped API has none).
func (i *informer) list() []any {
	if i == nil {
		return nil
	}
	return i.inf.GetIndexer().List()
}

// inNamespace returns the cached objects of ns.
func (i *informer) inNamespace(ns string) []*unstructured.Unstructured {
	if i == nil {
		return nil
	}
	objs, _ := i.inf.GetIndexer().ByIndex(cache.NamespaceIndex, ns)
	out := make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		if u, ok := o.(*unstructured.Unstructured); ok {
			out = append(out, u)
		}
	}
	return out
}

// controlInformers watch this cluster's namespace on the control plane: the
// APIServiceNamespaces the agent asked for, and the exports (their claims).
type controlInformers struct {
	namespaces, exports *informer
}

func (c *controlInformers) close() {
	c.namespaces.close()
	c.exports.close()
}

func (s *Syncer) startControl(ctx context.Context) *controlInformers {
	return &controlInformers{
		namespaces: newInformer(s.cp, namespacesGVR, s.clusterNs, s.opts.Resync,
			func(_, name string) { s.namespaceChanged(name) }, s.controlPlaneFailed),
		exports: newInformer(s.cp, exportsGVR, s.clusterNs, s.opts.Resync,
			func(_, name string) { s.exportChanged(name) }, s.controlPlaneFailed),
	}
}

// namespaceChanged follows the APIServiceNamespace appNs: once its status
// names a namespace, the control-plane informers of that namespace start
// and every instance of the app namespace is synced again.
func (s *Syncer) namespaceChanged(appNs string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.controlPlaneOKLocked()
	o := s.control.namespaces.get(s.clusterNs, appNs)
	instNs := ""
	if o != nil {
		instNs, _, _ = unstructured.NestedString(o.Object, "status", "namespace")
		s.asked[appNs] = true
	} else {
		delete(s.asked, appNs) // deleted by someone: ask again
	}
	if s.nsOf[appNs] == instNs {
		return
	}
	if old := s.nsOf[appNs]; old != "" {
		delete(s.appNsOf, old)
		for k, i := range s.cpInf {
			if k.ns == old {
				i.close()
				delete(s.cpInf, k)
			}
		}
	}
	if instNs == "" {
		delete(s.nsOf, appNs)
	} else if other, taken := s.appNsOf[instNs]; taken && other != appNs {
		// Never sync two app namespaces through one namespace.
		delete(s.nsOf, appNs)
		instNs = ""
	} else {
		s.nsOf[appNs] = instNs
		s.appNsOf[instNs] = appNs
	}
	if instNs != "" {
		s.ensureClaimInformersLocked()
		s.sweepSoonLocked()
	}
	s.enqueueNamespaceLocked(appNs)
}

// exportChanged starts or stops informers of claimed resources and syncs the
// instances of that export's binding again (its claims may have changed).
func (s *Syncer) exportChanged(binding string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.controlPlaneOKLocked()
	s.ensureClaimInformersLocked()
	if st, ok := s.apis[binding]; ok {
		for _, o := range st.app.list() {
			if m, ok := o.(metav1.Object); ok {
				s.enqueueLocked(key{kind: instanceKey, binding: binding, ns: m.GetNamespace(), name: m.GetName()})
			}
		}
	}
}

// enqueueNamespaceLocked queues every instance and claimed object of appNs.
func (s *Syncer) enqueueNamespaceLocked(appNs string) {
	for name, st := range s.apis {
		for _, o := range st.app.inNamespace(appNs) {
			s.enqueueLocked(key{kind: instanceKey, binding: name, ns: appNs, name: o.GetName()})
		}
		s.queue.Add(key{kind: statusKey, binding: name})
	}
	for gvr, i := range s.appClaim {
		for _, o := range i.inNamespace(appNs) {
			s.enqueueLocked(key{kind: claimKey, res: gvr.Resource, ns: appNs, name: o.GetName()})
		}
	}
}

func (s *Syncer) enqueueLocked(k key) {
	if _, ok := s.seen[k]; !ok {
		s.seen[k] = time.Now()
	}
	s.queue.Add(k)
}

func (s *Syncer) enqueue(k key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enqueueLocked(k)
}

// startAPILocked starts syncing api: its app-side informer (all
// namespaces), and its control-plane informers in every assigned namespace.
func (s *Syncer) startAPILocked(a API) *apiState {
	if old, ok := s.apis[a.Binding]; ok {
		old.app.close()
	}
	binding := a.Binding
	st := &apiState{api: a}
	if a.Namespaced {
		st.app = newInformer(s.app, a.gvr(), "", s.opts.Resync, func(ns, name string) {
			s.enqueue(key{kind: instanceKey, binding: binding, ns: ns, name: name})
		}, nil)
		s.byGVR[a.gvr()] = binding
		s.sweepSoonLocked()
	}
	s.apis[binding] = st
	return st
}

func (s *Syncer) stopAPILocked(binding string) {
	st, ok := s.apis[binding]
	if !ok {
		return
	}
	st.app.close()
	delete(s.apis, binding)
	delete(s.results, binding)
	if st.api.Namespaced {
		delete(s.byGVR, st.api.gvr())
		for k, i := range s.cpInf {
			if k.gvr == st.api.gvr() {
				i.close()
				delete(s.cpInf, k)
			}
		}
	}
}

// ensureCPInformerLocked starts the informer of gvr in the instance
// namespace instNs; its events sync the app object of the same name. For a
// bound resource it is started only where it is needed: when an app object
// of that resource is synced in the namespace, or when the sweep finds a
// copy there (a copy whose app object is missing, to restore). An agent
// with 200 bound resources and 50 namespaces so watches the pairs in use,
// not 10,000.
func (s *Syncer) ensureCPInformerLocked(gvr schema.GroupVersionResource, instNs string) *informer {
	k := nsResource{gvr: gvr, ns: instNs}
	if i, ok := s.cpInf[k]; ok {
		return i
	}
	i := newInformer(s.cp, gvr, instNs, s.opts.Resync, func(ns, name string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		appNs, ok := s.appNsOf[ns]
		if !ok {
			return
		}
		if binding, ok := s.byGVR[gvr]; ok {
			s.enqueueLocked(key{kind: instanceKey, binding: binding, ns: appNs, name: name})
		} else {
			s.enqueueLocked(key{kind: claimKey, res: gvr.Resource, ns: appNs, name: name})
		}
	}, s.controlPlaneFailed)
	s.cpInf[k] = i
	return i
}

// ensureClaimInformersLocked starts the informers claimed objects need:
// claimed resources in every assigned namespace on the control plane, and
// consumer-owned ones in the app cluster.
func (s *Syncer) ensureClaimInformersLocked() {
	for _, c := range s.claimsLocked() {
		gvr := c.gvr()
		// The control-plane side is watched for both owners: the source
		// of provider-owned objects, the copies of consumer-owned ones
		// (compared before each write).
		for instNs := range s.appNsOf {
			s.ensureCPInformerLocked(gvr, instNs)
		}
		if c.claim.OwnerOrDefault() == v1alpha1.ClaimOwnerConsumer {
			if _, ok := s.appClaim[gvr]; !ok {
				res := gvr.Resource
				s.appClaim[gvr] = newInformer(s.app, gvr, "", s.opts.Resync, func(ns, name string) {
					s.mu.Lock()
					defer s.mu.Unlock()
					if _, ok := s.nsOf[ns]; ok {
						s.enqueueLocked(key{kind: claimKey, res: res, ns: ns, name: name})
					}
				}, nil)
			}
		}
	}
}

// controlPlaneFailed records a control-plane transport failure: every
// binding says ControlPlaneUnavailable until a call succeeds again.
func (s *Syncer) controlPlaneFailed(err error) {
	var status apierrors.APIStatus
	if errors.As(err, &status) && !apierrors.IsServiceUnavailable(err) && !apierrors.IsTimeout(err) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cpDown == nil {
		for name := range s.apis {
			s.queue.Add(key{kind: statusKey, binding: name})
		}
	}
	s.cpDown = fmt.Errorf("control plane unreachable: %w", err)
}

func (s *Syncer) controlPlaneOKLocked() {
	if s.cpDown == nil || !s.control.namespaces.synced() || !s.control.exports.synced() {
		return
	}
	s.cpDown = nil
	for name, st := range s.apis {
		s.queue.Add(key{kind: statusKey, binding: name})
		for _, o := range st.app.list() {
			if m, ok := o.(metav1.Object); ok {
				s.enqueueLocked(key{kind: instanceKey, binding: name, ns: m.GetNamespace(), name: m.GetName()})
			}
		}
	}
}

// watchControlPlane probes the control plane every 2 seconds while it is
// marked unreachable, and syncs everything again once it answers.
func (s *Syncer) watchControlPlane(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		down := s.cpDown != nil
		s.mu.Unlock()
		if !down {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := s.cp.Resource(namespacesGVR).Namespace(s.clusterNs).List(pctx, metav1.ListOptions{Limit: 1})
		cancel()
		if err != nil {
			s.controlPlaneFailed(err)
			continue
		}
		s.mu.Lock()
		s.controlPlaneOKLocked()
		s.mu.Unlock()
	}
}

// sweepSoonLocked asks the sweep to run now.
func (s *Syncer) sweepSoonLocked() {
	select {
	case s.sweep <- struct{}{}:
	default:
	}
}

// sweepCopies looks for copies of bound resources in instance namespaces
// not watched yet (one list of at most one object per pair) and starts the
// informer of each pair that has any, so a copy whose app object is
// missing is found and restored. It runs when an API or a namespace is
// added and every resync period.
func (s *Syncer) sweepCopies(ctx context.Context) {
	t := time.NewTicker(s.opts.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.sweep:
		}
		s.mu.Lock()
		var todo []nsResource
		for _, st := range s.apis {
			if !st.api.Namespaced || st.releasing == v1alpha1.DeletionOrphan {
				continue
			}
			for instNs := range s.appNsOf {
				if _, ok := s.cpInf[nsResource{gvr: st.api.gvr(), ns: instNs}]; !ok {
					todo = append(todo, nsResource{gvr: st.api.gvr(), ns: instNs})
				}
			}
		}
		s.mu.Unlock()
		for _, p := range todo {
			list, err := s.cp.Resource(p.gvr).Namespace(p.ns).List(ctx, metav1.ListOptions{
				Limit: 1, LabelSelector: v1alpha1.ClusterLabel + "=" + s.opts.Cluster})
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				s.controlPlaneFailed(err)
				continue
			}
			if len(list.Items) > 0 {
				s.mu.Lock()
				if _, ok := s.byGVR[p.gvr]; ok && s.appNsOf[p.ns] != "" {
					s.ensureCPInformerLocked(p.gvr, p.ns)
				}
				s.mu.Unlock()
			}
		}
	}
}
