package backend

import (
	"context"
	"errors"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/conditions"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// reportClusters writes each AppCluster's status, only where it changed:
// Ready (its control-plane folder is applied at main's head; or why not),
// Reconciling or Stalled (v1alpha1.SetHealthConditions), its namespace,
// and the revision that last changed its folder. Like report, it runs after
// every reconcile, a failed one too. It records no events: a cluster's
// transitions show on its requests' events already.
func (rc *Reconciler) reportClusters(ctx context.Context, r *run, runErr error) error {
	var errs []error
	changed, all := clustersChanged(r)
	head := r.head()
	for i := range r.clusters {
		c := &r.clusters[i]
		before := c.Status.DeepCopy()
		rc.clusterStatus(r, c, runErr)
		st := &c.Status
		inMain := r.plan.Main != nil && r.plan.Main[staterepo.ControlPlaneDir(c.Name)+"/"+staterepo.KustomizationFile] != nil
		if inMain && !head.IsZero() && (all || changed[c.Name] || st.Revision == "") {
			st.Revision = rc.revision(head)
		}
		if equality.Semantic.DeepEqual(before, st) {
			continue
		}
		m := statusMeta(c)
		errs = append(errs, rc.patchStatus(ctx, c,
			&v1alpha1.AppCluster{ObjectMeta: m, Status: *before},
			&v1alpha1.AppCluster{ObjectMeta: m, Status: *st.DeepCopy()}))
	}
	return errors.Join(errs...)
}

// clustersChanged returns the clusters whose folder this run's pushed
// commits on main changed; all is true when a commit changed files outside
// every cluster folder (its Dirs are not known).
func clustersChanged(r *run) (changed map[string]bool, all bool) {
	changed = map[string]bool{}
	if !r.pushed {
		return changed, false
	}
	for _, s := range r.plan.Steps {
		if s.Dirs == nil {
			return changed, true
		}
		for _, d := range s.Dirs {
			changed[strings.TrimPrefix(d, staterepo.ClustersDir+"/")] = true
		}
	}
	return changed, false
}

// clusterStatus sets c's Ready, Reconciling and Stalled conditions,
// observedGeneration and namespace for the run's outcome.
func (rc *Reconciler) clusterStatus(r *run, c *v1alpha1.AppCluster, runErr error) {
	st := &c.Status
	gen := c.Generation
	st.ObservedGeneration = gen
	st.Namespace = c.Namespace()
	set := func(ok bool, reason, msg string) {
		conditions.Set(&st.Conditions, v1alpha1.ReadyCondition, ok, reason, msg, gen)
		v1alpha1.SetHealthConditions(&st.Conditions, gen)
	}
	for _, pr := range r.plan.Problems {
		if pr.Kind == "AppCluster" && pr.Name == c.Name {
			set(false, pr.Reason, pr.String())
			return
		}
	}
	head := r.head()
	dir := staterepo.ClusterDir(c.Name) + "/"
	switch {
	case runErr != nil && reasonOf(runErr) == v1alpha1.ApplyFailedReason && !strings.Contains(runErr.Error(), dir):
		// another cluster's folder failed: this one's outcome is unknown
		if ready := meta.FindStatusCondition(st.Conditions, v1alpha1.ReadyCondition); ready == nil || ready.Status != metav1.ConditionTrue {
			set(false, v1alpha1.ProgressingReason, "waiting for the control-plane apply: "+runErr.Error())
		}
	case runErr != nil:
		set(false, reasonOf(runErr), runErr.Error())
	case !head.IsZero() && r.applied == head:
		// no revision in the message: a commit for one cluster must not
		// rewrite every cluster's status (status.revision says which)
		set(true, v1alpha1.SucceededReason, "namespace "+c.Namespace()+" and "+staterepo.ControlPlaneDir(c.Name)+" applied from "+rc.opts.Branch)
	default:
		set(false, v1alpha1.ProgressingReason, "waiting for the control-plane apply")
	}
}
