package backend

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/apply"
	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/conditions"
	"github.com/bindsync/bindsync/internal/kustomize"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// An app cluster's instance namespaces (staterepo.NamespacesDir) are applied
// after its control-plane folder, checked by render.CheckNamespacesFolder
// first, and pruned with it: a namespace file that leaves main takes its
// Role and RoleBinding with it at once. The Namespace itself is deleted only once it
// holds no object labelled bindsync.io/cluster (a provider copy the agent
// wrote): deleting a namespace deletes everything in it, and a copy is a
// provisioned database. Until then it is kept, and the log says why.

// buildNamespaces builds and checks a cluster's namespaces folder; nil
// when main holds none.
func buildNamespaces(fsys fs.FS, cluster string) ([]*unstructured.Unstructured, error) {
	dir := staterepo.NamespacesDir(cluster)
	if _, err := fs.Stat(fsys, dir+"/"+staterepo.KustomizationFile); err != nil {
		return nil, nil
	}
	objs, err := kustomize.BuildFS(fsys, dir)
	if err != nil {
		return nil, &genericError{Reason: v1alpha1.BuildFailedReason, Err: fmt.Errorf("build %s: %w", dir, err)}
	}
	apply.Sort(objs)
	if err := render.CheckNamespacesFolder(cluster, objs); err != nil {
		return nil, &stallingError{Reason: v1alpha1.ApplyRefusedReason, Err: fmt.Errorf(
			"%s refused, nothing of cluster %s's folders applied or pruned: %w", dir, cluster, err)}
	}
	return objs, nil
}

// instanceNamespaces returns the names of the Namespaces in objs.
func instanceNamespaces(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		if o.GetKind() == "Namespace" && o.GetAPIVersion() == "v1" {
			out = append(out, o.GetName())
		}
	}
	return out
}

// reportNamespaces writes each APIServiceNamespace's status, only where it
// changed: status.namespace and revision once its namespace is applied from
// main, and Ready (True; False NamespacePending until then; False
// InvalidNamespace for one render refuses), with Reconciling or Stalled.
func (rc *Reconciler) reportNamespaces(ctx context.Context, r *run, runErr error) error {
	decisions := map[[2]string]plan.NamespaceDecision{}
	for _, d := range r.plan.Namespaces {
		decisions[[2]string{d.Namespace, d.Name}] = d
	}
	changed, all := clustersChanged(r)
	var errs []error
	for i := range r.namespaces {
		n := &r.namespaces[i]
		if n.DeletionTimestamp != nil {
			continue
		}
		before := n.Status.DeepCopy()
		d, ok := decisions[[2]string{n.Namespace, n.Name}]
		rc.namespaceStatus(r, n, d, ok, runErr, all || changed[d.Cluster])
		v1alpha1.SetHealthConditions(&n.Status.Conditions, n.Generation)
		if equality.Semantic.DeepEqual(before, &n.Status) {
			continue
		}
		m := statusMeta(n)
		errs = append(errs, rc.patchStatus(ctx, n,
			&v1alpha1.APIServiceNamespace{ObjectMeta: m, Status: *before},
			&v1alpha1.APIServiceNamespace{ObjectMeta: m, Status: *n.Status.DeepCopy()}))
		rc.conditionEvent(n, before.Conditions, n.Status.Conditions, v1alpha1.ReadyCondition)
	}
	return errors.Join(errs...)
}

func (rc *Reconciler) namespaceStatus(r *run, n *v1alpha1.APIServiceNamespace, d plan.NamespaceDecision, planned bool, runErr error, moved bool) {
	st := &n.Status
	st.ObservedGeneration = n.Generation
	head := r.head()
	ready, reason, msg := false, v1alpha1.NamespacePendingReason, "waiting for the control-plane apply"
	switch {
	case planned && d.Problem != nil:
		reason, msg = d.Problem.Reason, d.Problem.String()
	case !planned && runErr != nil:
		msg = "not in " + rc.opts.Branch + " yet: " + runErr.Error()
	case !planned:
		msg = "not in " + rc.opts.Branch + " yet"
	case r.clusterErrs[d.Cluster] != nil:
		msg = fmt.Sprintf("cluster %s's folders did not apply: %v", d.Cluster, r.clusterErrs[d.Cluster])
	case runErr != nil:
		msg = "not applied yet: " + runErr.Error()
	case !d.Rendered || !r.pushed:
		msg = "not in " + rc.opts.Branch + " yet"
	case r.applied == head && !head.IsZero():
		// the revision moves only with the cluster's folder, so a commit
		// elsewhere writes no status here
		st.Namespace = d.Instance
		if moved || st.Revision == "" {
			st.Revision = rc.revision(head)
		}
		ready, reason, msg = true, v1alpha1.SucceededReason, fmt.Sprintf("namespace %s applied from %s", d.Instance, st.Revision)
	}
	conditions.Set(&st.Conditions, v1alpha1.ReadyCondition, ready, reason, msg, n.Generation)
}

// removeInstanceNamespaces deletes cluster's instance Namespaces that main
// no longer holds (keep are those it holds) and that hold no synced copy;
// the others are kept and logged with why.
func (rc *Reconciler) removeInstanceNamespaces(ctx context.Context, cluster string, keep []string) error {
	kept, err := rc.opts.Applier.RemoveInstanceNamespaces(ctx, cluster, keep)
	for _, k := range kept {
		rc.logNamespaceKept(cluster, k)
	}
	return err
}

func (rc *Reconciler) logNamespaceKept(cluster string, k KeptNamespace) {
	rc.keptLog.Lock()
	defer rc.keptLog.Unlock()
	if rc.keptSaid == nil {
		rc.keptSaid = map[string]string{}
	}
	if rc.keptSaid[k.Name] == k.Reason {
		return // said already
	}
	rc.keptSaid[k.Name] = k.Reason
	ctrl.Log.WithName("backend").Info("keeping an instance namespace main no longer holds", "cluster", cluster, "namespace", k.Name, "why", k.Reason)
}

// KeptNamespace is an instance namespace main no longer holds that the
// backend did not delete, and why.
type KeptNamespace struct {
	Name, Reason string
}

// sortedKept sorts kept namespaces by name.
func sortedKept(k []KeptNamespace) []KeptNamespace {
	slices.SortFunc(k, func(a, b KeptNamespace) int { return strings.Compare(a.Name, b.Name) })
	return k
}
