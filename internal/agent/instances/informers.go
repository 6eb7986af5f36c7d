package instances

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

var (
	namespacesGVR = v1alpha1.GroupVersion.WithResource("apiservicenamespaces")
	exportsGVR    = v1alpha1.GroupVersion.WithResource("apiserviceexports")
)

// informer is one cache of a resource (in one namespace or all) kept by a
// reflector, and the channel that stops it. It is lighter than a shared
// informer: no delta queue and no event-handler goroutines, only the
// reflector's own (list and watch, its resync timer, the watch's decoder).
// An agent with 200 bound APIs and 500 (resource, namespace) pairs in use
// keeps 800 of them, so each goroutine and buffer per cache counts.
type informer struct {
	store *notifyingStore
	stop  context.CancelFunc
}

// newInformer starts a cache of gvr in ns ("" all namespaces), calling
// onChange with each added, changed or deleted object's namespace and name,
// and with every object at each resync (the Syncer's resyncCaches: one
// timer for every cache, not one each). Objects are stored without the
// fields the sync never reads (see slim). onError is told about list and
// watch failures.
func newInformer(c dynamic.Interface, gvr schema.GroupVersionResource, ns string,
	onChange func(ns, name string), onError func(error)) *informer {
	return newInformerThen(c, gvr, ns, onChange, onError, nil)
}

// newInformerThen is newInformer calling onSynced once, after the first
// list is cached (nil: not called).
func newInformerThen(c dynamic.Interface, gvr schema.GroupVersionResource, ns string,
	onChange func(ns, name string), onError func(error), onSynced func()) *informer {
	res := c.Resource(gvr).Namespace(ns)
	lw := cache.ToListWatcherWithWatchListSemantics(&cache.ListWatch{
		ListFunc: func(o metav1.ListOptions) (runtime.Object, error) { return res.List(context.Background(), o) },
		WatchFunc: func(o metav1.ListOptions) (watch.Interface, error) {
			return res.Watch(context.Background(), o)
		},
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return res.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return res.Watch(ctx, o)
		},
	}, c)
	store := &notifyingStore{
		Indexer:  cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}),
		onChange: onChange,
		onSynced: onSynced,
	}
	r := cache.NewReflectorWithOptions(lw, &unstructured.Unstructured{}, store, cache.ReflectorOptions{
		Name: gvr.String() + " in " + nsOrAll(ns)})
	// A context of its own (not one made from a channel, which costs a
	// goroutine per derived context).
	ctx, cancel := context.WithCancel(context.Background())
	i := &informer{store: store, stop: cancel}
	go func() {
		// The reflector's own loop with its backoff (800 ms doubling to
		// 30 s), failures told to onError.
		backoff := wait.Backoff{Duration: 800 * time.Millisecond, Cap: 30 * time.Second, Steps: math.MaxInt32, Factor: 2, Jitter: 1}
		_ = backoff.DelayWithReset(clock.RealClock{}, 2*time.Minute).Until(ctx, true, true, func(ctx context.Context) (bool, error) {
			if err := r.ListAndWatchWithContext(ctx); err != nil && ctx.Err() == nil && onError != nil {
				onError(err)
			}
			return false, nil
		})
	}()
	return i
}

func nsOrAll(ns string) string {
	if ns == "" {
		return "all namespaces"
	}
	return ns
}

// slim drops what the sync never reads from a cached object: managed fields
// and the last-applied-configuration annotation (together often more than
// the object itself). Neither is carried to the other side: managed fields
// are the API server's, and annotations under kubernetes.io/ are not
// carried (carriedMap).
func slim(o any) (any, error) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	if m, ok := o.(metav1.Object); ok {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a != nil {
			if _, ok := a[corev1.LastAppliedConfigAnnotation]; ok {
				delete(a, corev1.LastAppliedConfigAnnotation)
				if len(a) == 0 {
					a = nil
				}
				m.SetAnnotations(a)
			}
		}
	}
	return o, nil
}

// notifyingStore is the informer's indexer: the reflector writes into it
// and it tells onChange about each change, on the reflector's goroutine
// (onChange only queues a key).
type notifyingStore struct {
	cache.Indexer
	onChange func(ns, name string)
	onSynced func()
	synced   atomic.Bool
}

var _ cache.TransformingStore = &notifyingStore{}

// Transformer slims objects a watch-list puts in the reflector's temporary
// store too.
func (n *notifyingStore) Transformer() cache.TransformFunc { return slim }

func (n *notifyingStore) notify(o any) {
	if m, ok := o.(metav1.Object); ok {
		n.onChange(m.GetNamespace(), m.GetName())
	}
}

func (n *notifyingStore) Add(o any) error {
	o, _ = slim(o)
	if err := n.Indexer.Add(o); err != nil {
		return err
	}
	n.notify(o)
	return nil
}

func (n *notifyingStore) Update(o any) error {
	o, _ = slim(o)
	if err := n.Indexer.Update(o); err != nil {
		return err
	}
	n.notify(o)
	return nil
}

func (n *notifyingStore) Delete(o any) error {
	o, _ = slim(o)
	if err := n.Indexer.Delete(o); err != nil {
		return err
	}
	n.notify(o)
	return nil
}

// Replace takes a full list (the first one, or a relist after a watch
// failed): every listed object and every one gone since is told about.
func (n *notifyingStore) Replace(list []any, resourceVersion string) error {
	gone := map[string]bool{}
	for _, k := range n.Indexer.ListKeys() {
		gone[k] = true
	}
	for i := range list {
		list[i], _ = slim(list[i])
	}
	if err := n.Indexer.Replace(list, resourceVersion); err != nil {
		return err
	}
	first := !n.synced.Swap(true)
	for _, o := range list {
		if k, err := cache.MetaNamespaceKeyFunc(o); err == nil {
			delete(gone, k)
		}
		n.notify(o)
	}
	for k := range gone {
		if ns, name, err := cache.SplitMetaNamespaceKey(k); err == nil {
			n.onChange(ns, name)
		}
	}
	if first && n.onSynced != nil {
		n.onSynced()
	}
	return nil
}

// Resync tells about every cached object again: the periodic comparison.
func (n *notifyingStore) Resync() error {
	for _, o := range n.Indexer.List() {
		n.notify(o)
	}
	return nil
}

func (i *informer) close() {
	if i != nil {
		i.stop()
	}
}

// resync tells every cached object again.
func (i *informer) resync() {
	if i != nil {
		_ = i.store.Resync()
	}
}

func (i *informer) synced() bool { return i != nil && i.store.synced.Load() }

// get returns the cached object ns/name, nil when absent.
func (i *informer) get(ns, name string) *unstructured.Unstructured {
	if i == nil {
		return nil
	}
	k := name
	if ns != "" {
		k = ns + "/" + name
	}
	o, ok, _ := i.store.GetByKey(k)
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
	return i.store.List()
}

// inNamespace returns the cached objects of ns.
func (i *informer) inNamespace(ns string) []*unstructured.Unstructured {
	if i == nil {
		return nil
	}
	objs, _ := i.store.ByIndex(cache.NamespaceIndex, ns)
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
		namespaces: newInformer(s.cp, namespacesGVR, s.clusterNs,
			func(_, name string) { s.namespaceChanged(name) }, s.controlPlaneFailed),
		exports: newInformer(s.cp, exportsGVR, s.clusterNs,
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
// An export told again unchanged (a resync) changes nothing: its instances
// are told by their own caches' resync.
func (s *Syncer) exportChanged(binding string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.controlPlaneOKLocked()
	rv := ""
	if o := s.control.exports.get(s.clusterNs, binding); o != nil {
		rv = o.GetResourceVersion()
	}
	if _, synced := s.apis[binding]; !synced || (s.claimsOK && s.claimsRV[binding] == rv) {
		return // the claims depend on the exports of synced APIs only
	}
	s.claimsChangedLocked()
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
	s.claimsChangedLocked()
	if a.Namespaced {
		st.app = newInformer(s.app, a.gvr(), "", func(ns, name string) {
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
	s.claimsChangedLocked()
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
	i := newInformerThen(s.cp, gvr, instNs, func(ns, name string) {
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
	}, s.controlPlaneFailed, func() {
		// The objects that waited for this cache (their sync found it
		// not listed yet and backs off) go now: the listed copies are
		// told above, the app objects without a copy yet are not.
		s.mu.Lock()
		defer s.mu.Unlock()
		appNs, ok := s.appNsOf[instNs]
		if !ok {
			return
		}
		if binding, ok := s.byGVR[gvr]; ok {
			if st := s.apis[binding]; st != nil {
				for _, o := range st.app.inNamespace(appNs) {
					s.enqueueLocked(key{kind: instanceKey, binding: binding, ns: appNs, name: o.GetName()})
				}
			}
			return
		}
		for _, o := range s.appClaim[gvr].inNamespace(appNs) {
			s.enqueueLocked(key{kind: claimKey, res: gvr.Resource, ns: appNs, name: o.GetName()})
		}
	})
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
				s.appClaim[gvr] = newInformer(s.app, gvr, "", func(ns, name string) {
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

// resyncCaches tells every cached object again every resync period, so
// every object is compared again (a write only when something differs).
func (s *Syncer) resyncCaches(ctx context.Context) {
	t := time.NewTicker(s.opts.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.mu.Lock()
		caches := []*informer{s.control.namespaces, s.control.exports}
		for _, st := range s.apis {
			caches = append(caches, st.app)
		}
		for _, i := range s.cpInf {
			caches = append(caches, i)
		}
		for _, i := range s.appClaim {
			caches = append(caches, i)
		}
		s.mu.Unlock()
		for _, i := range caches {
			i.resync()
		}
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
