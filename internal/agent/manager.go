package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	ctrlsource "sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent/instances"
)

// RunOptions configure the agent's controller-runtime manager.
type RunOptions struct {
	// Interval between passes when the last one succeeded (default 1m); each
	// wait is spread by up to 10% (jitter) so a fleet does not poll in step.
	Interval time.Duration
	// RetryInterval after a failed pass (default Interval/2, at most 30s).
	RetryInterval time.Duration
	// MetricsBindAddress serves /metrics ("0" disables; default ":8080").
	MetricsBindAddress string
	// HealthProbeBindAddress serves /healthz and /readyz (default ":8081").
	HealthProbeBindAddress string
	// PprofBindAddress serves Go's /debug/pprof profiles (empty or "0": off).
	PprofBindAddress string
	// LeaderElection makes two replicas never sync at once: only the holder
	// of the lease bindsync-agent-<cluster> runs passes. The lease is
	// released when the manager stops (the process ends right after), so a
	// successor of a gracefully stopped replica does not wait it out.
	LeaderElection          bool
	LeaderElectionNamespace string
	// LeaseDuration, RenewDeadline and RetryPeriod tune the election (zero:
	// controller-runtime's 15s, 10s, 2s). A leader that dies is replaced
	// after at most LeaseDuration.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Webhook, when its Addr is set, serves signed push notifications.
	Webhook WebhookOptions
	// InstanceResync is how often the instance sync compares every object
	// again (0: the sync's default).
	InstanceResync time.Duration
}

// releasePoll bounds the wait before the next pass while a deleted binding
// waits for its instances to be released.
const releasePoll = 5 * time.Second

func (o *RunOptions) defaults() error {
	if o.Interval == 0 {
		o.Interval = time.Minute
	}
	if o.Interval < 0 || o.RetryInterval < 0 {
		return errors.New("agent: intervals must not be negative")
	}
	if o.LeaseDuration < 0 || o.RenewDeadline < 0 || o.RetryPeriod < 0 {
		return errors.New("agent: leader election timings must not be negative")
	}
	if o.Webhook.Addr != "" && o.Webhook.SecretFile == "" {
		return errors.New("agent: --webhook-bind-address needs --webhook-secret-file: unsigned calls are never accepted")
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = min(o.Interval/2, 30*time.Second)
	}
	if o.MetricsBindAddress == "" {
		o.MetricsBindAddress = ":8080"
	}
	if o.HealthProbeBindAddress == "" {
		o.HealthProbeBindAddress = ":8081"
	}
	return nil
}

func newScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}

// nonZero is d for a manager option, nil (the default) when zero.
func nonZero(d time.Duration) *time.Duration {
	if d == 0 {
		return nil
	}
	return &d
}

// cacheOptions limit what the manager's cache holds, which is most of the
// agent's memory besides the build: CRDs only with this cluster's labels, and
// (the watch asks for metadata only) only their metadata, since a pass needs
// their names, labels, generation and resourceVersion: a whole CRD of a real
// provider is 4 to 20 KiB of schema, decoded several times that. No cached
// object keeps its managedFields, which the agent never reads: for a CRD or a
// binding they are often as large as the rest of its metadata. An update
// made from a cached object (a binding's status) sends no managedFields, and
// the API server then keeps them as they are.
func cacheOptions(cluster string) cache.Options {
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			// Keyed by kind: it limits the metadata watch too.
			&apiextensionsv1.CustomResourceDefinition{}: {Label: clusterSelector(cluster)},
		},
		DefaultTransform: cache.TransformStripManagedFields(),
	}
}

// jitter spreads d by up to +10%.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

// syncRequest is the work item of a full pass: every event but a change of
// instance counts leads to one.
var syncRequest = reconcile.Request{NamespacedName: types.NamespacedName{Name: "sync"}}

// countsNamespace marks the work item "report binding <name>'s instance
// counts" (bindings are cluster-scoped, so no request of a pass has it).
const countsNamespace = "instance-counts"

// instancesChanged passes an update that changed a binding's
// status.instances (written by the Syncer), and nothing else.
var instancesChanged = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*v1alpha1.APIServiceBinding)
		n, ok2 := e.ObjectNew.(*v1alpha1.APIServiceBinding)
		return ok1 && ok2 && !equality.Semantic.DeepEqual(o.Status.Instances, n.Status.Instances)
	},
}

// ClientConfig returns a copy of cfg with the client-side rate limit the
// agent's clients use. A config that sets none (QPS 0, no RateLimiter: what a
// kubeconfig file gives) gets no client-side limit, as controller-runtime's
// own config loader does, and the API server's priority and fairness does the
// limiting: client-go's fallback of 5 requests per second would make the
// first pass over a few hundred bindings (a finalizer and a status write
// each) take minutes. A config that sets a limit keeps it.
func ClientConfig(cfg *rest.Config) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 && cfg.RateLimiter == nil {
		cfg.QPS = -1
	}
	return cfg
}

// NewManager returns a controller-runtime manager that runs a's passes. It
// watches APIServiceBindings and the metadata of only the CRDs carrying this
// cluster's bindsync labels (see cacheOptions), polls on the interval, and
// serves metrics, probes, the webhook and, when asked, pprof.
func NewManager(cfg *rest.Config, src Source, o Options, ro RunOptions) (manager.Manager, *Agent, error) {
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	if err := ro.defaults(); err != nil {
		return nil, nil, err
	}
	cfg = ClientConfig(cfg)
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme: newScheme(),
		Cache:  cacheOptions(o.Cluster),
		Client: client.Options{Cache: &client.CacheOptions{
			// The CRDs are watched as metadata only (see cacheOptions): a
			// whole CRD is read from the API server, when one is needed.
			DisableFor: []client.Object{&apiextensionsv1.CustomResourceDefinition{}},
		}},
		Metrics:                       metricsserver.Options{BindAddress: ro.MetricsBindAddress},
		HealthProbeBindAddress:        ro.HealthProbeBindAddress,
		PprofBindAddress:              ro.PprofBindAddress,
		LeaderElection:                ro.LeaderElection,
		LeaderElectionID:              "bindsync-agent-" + o.Cluster,
		LeaderElectionNamespace:       ro.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 nonZero(ro.LeaseDuration),
		RenewDeadline:                 nonZero(ro.RenewDeadline),
		RetryPeriod:                   nonZero(ro.RetryPeriod),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("agent: manager: %w", err)
	}
	if o.Events == nil {
		o.Events = mgr.GetEventRecorderFor(FieldManager) //nolint:staticcheck // the events API recorder needs events.k8s.io RBAC; core events are what kubectl describe shows
	}
	if err := addInstanceSync(mgr, cfg, &o, ro); err != nil {
		return nil, nil, err
	}
	a, err := New(mgr.GetConfig(), mgr.GetClient(), src, o)
	if err != nil {
		return nil, nil, err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, nil, err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return nil, nil, err
	}

	triggers := make(chan event.GenericEvent, 1)
	triggers <- event.GenericEvent{Object: &v1alpha1.APIServiceBinding{}} // the first pass, even with no binding
	if ro.Webhook.Addr != "" {
		wh, err := newWebhook(ro.Webhook, triggers)
		if err != nil {
			return nil, nil, err
		}
		if err := mgr.Add(wh); err != nil {
			return nil, nil, err
		}
	}
	if err := addController(mgr, a, ro, triggers); err != nil {
		return nil, nil, err
	}
	return mgr, a, nil
}

// addInstanceSync makes the instance sync, when o asks for it and brings
// none, and adds it to mgr as a Runnable that needs leader election: only
// the leader syncs.
func addInstanceSync(mgr manager.Manager, cfg *rest.Config, o *Options, ro RunOptions) error {
	if o.instanceMode() != instancesSynced || o.Instances != nil {
		return nil
	}
	s, err := instances.New(instances.Options{
		Cluster: o.Cluster, App: cfg, ControlPlane: ClientConfig(o.ControlPlane), Events: o.Events, Resync: ro.InstanceResync,
	})
	if err != nil {
		return fmt.Errorf("agent: instance sync: %w", err)
	}
	if err := mgr.Add(s); err != nil {
		return fmt.Errorf("agent: instance sync: %w", err)
	}
	o.Instances = s
	return nil
}

// addController adds the agent's controller to mgr: a pass on a binding's
// or a labelled CRD's change and on each trigger (the first pass, the
// webhook), one binding's counts reported when its status.instances change.
func addController(mgr manager.Manager, a *Agent, ro RunOptions, triggers chan event.GenericEvent) error {
	toSync := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{syncRequest}
	})
	toCounts := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: countsNamespace, Name: o.GetName()}}}
	})
	bindingChanged := predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{})
	crdChanged := predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{})
	err := ctrl.NewControllerManagedBy(mgr).
		Named("bindsync-agent").
		// Tests run several agents in one process; a production process has one.
		WithOptions(controller.Options{SkipNameValidation: ptr.To(true)}).
		Watches(&v1alpha1.APIServiceBinding{}, toSync, builder.WithPredicates(bindingChanged)).
		Watches(&v1alpha1.APIServiceBinding{}, toCounts, builder.WithPredicates(instancesChanged)).
		Watches(&apiextensionsv1.CustomResourceDefinition{}, toSync, builder.WithPredicates(crdChanged), builder.OnlyMetadata).
		WatchesRawSource(ctrlsource.Channel(triggers, toSync)).
		Complete(a.reconciler(ro))
	if err != nil {
		return fmt.Errorf("agent: controller: %w", err)
	}
	return nil
}

// reconciler runs a pass, or reports one binding's instance counts, and says
// when to run again: the interval, the retry interval after a failed pass,
// sooner while a deleted binding waits for its instances.
func (a *Agent) reconciler(ro RunOptions) reconcile.Func {
	return func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		if req.Namespace == countsNamespace {
			// Not a pass: a failure is logged, and the next pass
			// reports the counts again.
			if err := a.ReportInstances(ctx, req.Name); err != nil {
				ctrl.LoggerFrom(ctx).Error(err, "report instance counts to the control plane failed", "binding", req.Name)
			}
			return reconcile.Result{}, nil
		}
		begin := time.Now()
		res, err := a.Sync(ctx)
		observe(res, err, time.Since(begin))
		if res.ReportErr != nil {
			ctrl.LoggerFrom(ctx).Error(res.ReportErr, "report back to the control plane failed; the pass is not failed for it")
		}
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "sync failed", "revision", res.Revision.String())
			return reconcile.Result{RequeueAfter: jitter(ro.RetryInterval)}, nil
		}
		if res.Waiting {
			return reconcile.Result{RequeueAfter: jitter(min(ro.RetryInterval, releasePoll))}, nil
		}
		return reconcile.Result{RequeueAfter: jitter(ro.Interval)}, nil
	}
}
