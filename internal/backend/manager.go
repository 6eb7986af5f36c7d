package backend

import (
	"context"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// stateKey is the one work-queue key: every change re-plans the whole state.
var stateKey = reconcile.Request{NamespacedName: types.NamespacedName{Name: "state"}}

// lastApplied is the annotation kubectl apply keeps a copy of the object in.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// CacheOptions are the manager cache's options the backend needs: cached
// objects (the full AppClusters, templates and requests, and the metadata
// of every CRD) keep neither managedFields nor kubectl's last-applied copy,
// which nothing in the backend reads and which, on a control plane with
// thousands of objects, are a large part of what a cached object weighs.
func CacheOptions() cache.Options {
	strip := cache.TransformStripManagedFields()
	return cache.Options{DefaultTransform: func(in any) (any, error) {
		out, err := strip(in)
		if o, ok := out.(client.Object); ok && err == nil {
			if a := o.GetAnnotations(); a[lastApplied] != "" {
				delete(a, lastApplied)
				o.SetAnnotations(a)
			}
		}
		return out, err
	}}
}

// SetupWithManager registers the reconciler. AppClusters, templates and
// requests are watched in full (the manager's cache); CRDs as metadata only,
// and only a CRD some template references enqueues anything: a control plane
// with thousands of CRDs never caches their schemas.
func (rc *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	all := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{stateKey}
	})
	// A request, template or AppCluster at the version a status patch left it is in
	// the cache: what fresh would have stood in for is there now.
	written := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		rc.cached(o)
		return []reconcile.Request{stateKey}
	})
	referenced := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var tpls v1alpha1.APIServiceExportTemplateList
		if err := rc.opts.Client.List(ctx, &tpls); err != nil {
			return []reconcile.Request{stateKey}
		}
		for _, t := range tpls.Items {
			for _, r := range t.Spec.Resources {
				if r.String() == o.GetName() {
					return []reconcile.Request{stateKey}
				}
			}
		}
		return nil
	})
	// One event at start-up: the first reconcile applies every folder and
	// notices merges even when no object changes.
	start := make(chan event.GenericEvent, 1)
	start <- event.GenericEvent{Object: &v1alpha1.AppCluster{}}
	return ctrl.NewControllerManagedBy(mgr).
		Named("bindsync-backend").
		Watches(&v1alpha1.AppCluster{}, written).
		Watches(&v1alpha1.APIServiceExportTemplate{}, written).
		Watches(&v1alpha1.APIServiceExportRequest{}, written).
		Watches(&v1alpha1.APIServiceNamespace{}, written).
		WatchesMetadata(&apiextensionsv1.CustomResourceDefinition{}, referenced).
		WatchesRawSource(source.Channel(start, all)).
		// The name is fixed, and controller-runtime refuses a second
		// controller of one name in a process; a process that runs the
		// backend again (tests, an embedding program) must be able to.
		WithOptions(controller.Options{MaxConcurrentReconciles: 1, SkipNameValidation: ptr.To(true),
			RateLimiter: retryLimiter(rc.opts.Interval)}).
		Complete(rc)
}

// Bounds of the retry backoff of a failed reconcile.
const (
	minRetryDelay = 5 * time.Millisecond
	// MaxRetryDelay caps the backoff whatever the poll interval: a failing
	// reconcile is retried at least this often.
	MaxRetryDelay = 5 * time.Minute
)

// retryLimiter is the backoff of a reconcile that returned an error: it
// doubles from minRetryDelay up to the poll interval (at most
// MaxRetryDelay), never more. controller-runtime's default doubles up to
// 1000 s, and a failing reconcile's RequeueAfter is ignored, so a backend
// whose reconciles kept failing polled the repository only every 16
// minutes: a merged approval sat unnoticed that long. With this cap the
// --interval poll goes on while reconciles fail.
func retryLimiter(interval time.Duration) workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](minRetryDelay, min(interval, MaxRetryDelay))
}

// cached forgets the status written on o once the cache holds o at the
// version that write left it: the first reconcile at 1000 clusters writes
// 10,000 statuses, which would otherwise all be kept until the next one.
func (rc *Reconciler) cached(o client.Object) {
	rc.listing.Lock()
	defer rc.listing.Unlock()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if w, ok := rc.written[o.GetUID()]; ok && o.GetResourceVersion() == w.to {
		delete(rc.written, o.GetUID())
	}
}
