package instances

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

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
