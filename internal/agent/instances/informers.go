package instances

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"

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
