package instances

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/workqueue"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// FieldManager is the server-side apply field manager of every write the
// sync makes, on both sides.
const FieldManager = "bindsync-agent"

// StatusFieldManager owns the InstancesSynced condition and status.instances
// on APIServiceBindings (server-side apply on the status subresource), so
// the agent's own status writes (Ready, SchemaInSync) and the sync's never
// take each other's fields.
const StatusFieldManager = "bindsync-agent-instances"

// Workers is how many objects the sync writes at once. A sync is two
// writes in a row (the finalizer, then the copy), so the workers wait on the
// API servers more than they compute.
const Workers = 32

// EventRecorder records Kubernetes events on app objects (client-go's
// record.EventRecorder satisfies it).
type EventRecorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...any)
}

// API is one bound API whose instances are synced.
type API struct {
	// Binding is the APIServiceBinding's name, which is the CRD's name
	// (<plural>.<group>); its export on the control plane has the same name.
	Binding string
	// GVK is the CRD's storage version and kind: the sync reads and writes
	// through it on both sides.
	GVK schema.GroupVersionKind
	// Resource is the CRD's plural name.
	Resource string
	// Namespaced is false for a cluster-scoped CRD (not synced: see
	// docs/instances.md).
	Namespaced bool
}

func (a API) gvr() schema.GroupVersionResource { return a.GVK.GroupVersion().WithResource(a.Resource) }

// Options configure a Syncer.
type Options struct {
	// Cluster is this app cluster's name.
	Cluster string
	// App is the app cluster.
	App *rest.Config
	// ControlPlane is this cluster's ServiceAccount on the control plane
	// (bindsync-<cluster>/bindsync-agent).
	ControlPlane *rest.Config
	// Events records events on app objects (nil: none).
	Events EventRecorder
	// Resync is how often every object is compared again (0: 10 minutes).
	Resync time.Duration
}

// Syncer syncs the instances of the APIs it is given (Set) until its
// context ends. It writes each binding's InstancesSynced condition and
// status.instances itself, only when they change.
type Syncer struct {
	opts      Options
	clusterNs string // bindsync-<cluster> on the control plane
	app, cp   dynamic.Interface
	queue     workqueue.TypedRateLimitingInterface[key]

	mu         sync.Mutex
	ctx        context.Context // set by Start; nil before
	wanted     map[string]API  // the last Set
	apis       map[string]*apiState
	byGVR      map[schema.GroupVersionResource]string // copy resource -> binding
	control    *controlInformers                      // APIServiceNamespaces and exports of bindsync-<cluster>
	cpInf      map[nsResource]*informer               // (resource, instance namespace) on the control plane
	appClaim   map[schema.GroupVersionResource]*informer
	nsOf       map[string]string       // app namespace -> instance namespace (assigned)
	appNsOf    map[string]string       // instance namespace -> app namespace
	claimCache map[string]parsedClaims // by export
	claims     []claimRef              // claimsLocked's answer while claimsOK
	claimsOK   bool
	claimsRV   map[string]string // export resourceVersions claims was built from, by binding
	asked      map[string]bool   // app namespaces whose APIServiceNamespace this process created or saw
	seen       map[key]time.Time // when a change of a key was first seen (latency metric)
	results    map[string]map[string]result
	restored   map[string]int32 // restores per binding not yet in its status
	cpDown     error            // the last control-plane transport error, nil when reachable
	sweep      chan struct{}    // asks sweepCopies to run
}

// apiState is one API being synced (or released).
type apiState struct {
	api       API
	app       *informer
	releasing v1alpha1.DeletionPolicy // "" while synced normally
	// released is set once Release is done: a later Set that still (or
	// again, for a new binding of that name) lists the API starts it anew.
	released bool
	// settled is set once the binding's instance status was first worked
	// out from a look at every instance (or settleTimeout after
	// firstStatus): until then nothing is written, so a restarted agent
	// does not write counts that are still growing.
	settled     bool
	firstStatus time.Time
}

type nsResource struct {
	gvr schema.GroupVersionResource
	ns  string
}

// New returns a Syncer; Start runs it.
func New(o Options) (*Syncer, error) {
	if o.Cluster == "" || o.App == nil || o.ControlPlane == nil {
		return nil, errors.New("instances: cluster, app and control-plane configs are required")
	}
	if o.Resync == 0 {
		o.Resync = 10 * time.Minute
	}
	appCfg, cpCfg := withRate(o.App), withRate(o.ControlPlane)
	app, err := dynamic.NewForConfig(appCfg)
	if err != nil {
		return nil, fmt.Errorf("instances: app cluster client: %w", err)
	}
	cp, err := dynamic.NewForConfig(cpCfg)
	if err != nil {
		return nil, fmt.Errorf("instances: control-plane client: %w", err)
	}
	s := &Syncer{
		opts: o, clusterNs: "bindsync-" + o.Cluster, app: app, cp: cp,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[key](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[key]{Name: "bindsync-instances"}),
		wanted: map[string]API{}, apis: map[string]*apiState{}, byGVR: map[schema.GroupVersionResource]string{},
		cpInf: map[nsResource]*informer{}, appClaim: map[schema.GroupVersionResource]*informer{},
		nsOf: map[string]string{}, appNsOf: map[string]string{}, claimCache: map[string]parsedClaims{}, asked: map[string]bool{},
		seen: map[key]time.Time{}, results: map[string]map[string]result{}, restored: map[string]int32{},
		cpDown: errNotConnected, sweep: make(chan struct{}, 1),
	}
	return s, nil
}

// withRate lifts client-go's default 5 requests per second: the sync writes
// one object per instance and the queue bounds the parallelism. It also
// turns off gzip for the sync's requests: the API server compresses watch
// streams, and each compressed watch holds a decompressor (some 45 KB) in
// the agent and a compressor in the API server, for hundreds of watches of
// small objects, and costs CPU on both sides.
func withRate(c *rest.Config) *rest.Config {
	c = rest.CopyConfig(c)
	if c.QPS == 0 {
		c.QPS, c.Burst = 500, 1000
	}
	c.DisableCompression = true
	return c
}

// Start runs the sync until ctx ends (a controller-runtime Runnable).
func (s *Syncer) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.ctx != nil {
		s.mu.Unlock()
		return errors.New("instances: syncer already started")
	}
	s.ctx = ctx
	s.control = s.startControl(ctx)
	s.applyWantedLocked()
	s.mu.Unlock()

	var wg sync.WaitGroup
	for range Workers {
		wg.Go(func() {
			for s.processNext(ctx) {
			}
		})
	}
	wg.Go(func() { s.watchControlPlane(ctx) })
	wg.Go(func() { s.sweepCopies(ctx) })
	wg.Go(func() { s.resyncCaches(ctx) })
	<-ctx.Done()
	s.queue.ShutDown()
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.apis {
		a.app.close()
	}
	for _, i := range s.cpInf {
		i.close()
	}
	for _, i := range s.appClaim {
		i.close()
	}
	s.control.close()
	return nil
}

// Set tells the syncer which APIs are bound and Ready: it starts syncing
// new ones and stops syncing those no longer in apis (without touching any
// object: an API leaves the set while its binding is released, and Release
// decides what happens to its objects). It never blocks on the network.
func (s *Syncer) Set(apis []API) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wanted = map[string]API{}
	for _, a := range apis {
		s.wanted[a.Binding] = a
	}
	if s.ctx != nil {
		s.applyWantedLocked()
	}
}

// applyWantedLocked starts the informers of wanted APIs and stops those of
// APIs neither wanted nor being released.
func (s *Syncer) applyWantedLocked() {
	for name, a := range s.wanted {
		if st, ok := s.apis[name]; ok && st.api == a && !st.released {
			continue
		}
		s.startAPILocked(a)
		s.queue.Add(key{kind: statusKey, binding: name})
	}
	for name, st := range s.apis {
		if _, ok := s.wanted[name]; !ok && (st.releasing != v1alpha1.DeletionDelete || st.released) {
			s.stopAPILocked(name)
		}
	}
	s.ensureClaimInformersLocked()
}

// Release carries out a deleted binding's deletionPolicy on its instances:
// Orphan stops syncing and removes bindsync's finalizer from every app
// object, leaving every provider copy; Delete deletes the app objects (their
// copies go first, through the normal flow). done is true once nothing of
// the binding's instances is left to wait for; the agent deletes the CRD
// and drops the binding's finalizer only then.
func (s *Syncer) Release(ctx context.Context, api API, policy v1alpha1.DeletionPolicy) (done bool, err error) {
	if !api.Namespaced {
		return true, nil
	}
	if policy != v1alpha1.DeletionDelete {
		policy = v1alpha1.DeletionOrphan
	}
	s.mu.Lock()
	st, ok := s.apis[api.Binding]
	if !ok || st.api != api {
		if s.ctx == nil && policy == v1alpha1.DeletionDelete {
			s.mu.Unlock()
			return false, fmt.Errorf("release %s: the syncer is not running, so deleted app objects could not wait for their copies", api.Binding)
		}
		if s.ctx != nil && policy == v1alpha1.DeletionDelete {
			// Deletions flow through the sync: it must run until the
			// copies are gone. Orphan needs only the list below.
			st = s.startAPILocked(api)
		}
	}
	if st != nil {
		st.releasing = policy
		s.claimsChangedLocked()
	}
	s.mu.Unlock()

	list, err := s.app.Resource(api.gvr()).List(ctx, metav1.ListOptions{})
	if err != nil {
		return false, fmt.Errorf("release %s: list app objects: %w", api.Binding, err)
	}
	left := 0
	var errs []error
	for i := range list.Items {
		o := &list.Items[i]
		switch policy {
		case v1alpha1.DeletionOrphan:
			if !hasFinalizer(o) {
				continue
			}
			if err := s.setFinalizer(ctx, api, o, false); err != nil {
				errs = append(errs, err)
				left++
			}
		case v1alpha1.DeletionDelete:
			left++
			if o.GetDeletionTimestamp() == nil {
				if err := s.app.Resource(api.gvr()).Namespace(o.GetNamespace()).Delete(ctx, o.GetName(), metav1.DeleteOptions{}); err != nil && !isNotFound(err) {
					errs = append(errs, fmt.Errorf("delete %s %s/%s: %w", api.GVK.Kind, o.GetNamespace(), o.GetName(), err))
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return false, fmt.Errorf("release %s (%s): %w", api.Binding, policy, err)
	}
	if left > 0 {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.apis[api.Binding]; ok && st.releasing != "" {
		st.released = true
		if _, wanted := s.wanted[api.Binding]; !wanted {
			s.stopAPILocked(api.Binding)
		}
	}
	return true, nil
}
