package instances

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

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
