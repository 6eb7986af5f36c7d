package backend

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// report writes the status of every request and template, once per
// reconcile and only where it changed, and records events on transitions.
// It always runs: when an earlier phase failed (git or the API server
// away), requests keep what they had and their Ready condition says why.
//
// Request conditions: Rendered (exports in main or on the approval branch),
// Approved (PendingApproval, Rejected), Ready (applied at main's head; or
// the reason it is not: GitUnavailable, SchemaBreaking, a render problem,
// or ApplyFailed / ApplyRefused / BuildFailed when its own cluster's folder
// did not apply: another cluster's failure never marks it). Template
// conditions: Ready (SchemaBreaking, SchemaHeld, a render problem). Every
// Ready that is not True brings Reconciling or Stalled
// (v1alpha1.SetHealthConditions); AppClusters: reportClusters.
func (rc *Reconciler) report(ctx context.Context, r *run, runErr error) error {
	if r == nil {
		return nil
	}
	var errs []error
	decisions := map[string]plan.RequestDecision{}
	planned := r.plan.Requests != nil || r.plan.Main != nil
	for _, d := range r.plan.Requests {
		decisions[d.Namespace+"/"+d.Name] = d
	}
	pending, held := 0, map[string]bool{}
	for i := range r.requests {
		q := &r.requests[i]
		before := q.Status.DeepCopy()
		if d, ok := decisions[q.Namespace+"/"+q.Name]; ok && planned {
			rc.requestStatus(r, q, d, runErr)
			if d.Approval == plan.Pending {
				pending++
			}
		} else {
			rc.failedStatus(q, runErr)
		}
		v1alpha1.SetHealthConditions(&q.Status.Conditions, q.Generation)
		if !equality.Semantic.DeepEqual(before, &q.Status) {
			m := statusMeta(q)
			errs = append(errs, rc.patchStatus(ctx, q,
				&v1alpha1.APIServiceExportRequest{ObjectMeta: m, Status: *before},
				&v1alpha1.APIServiceExportRequest{ObjectMeta: m, Status: *q.Status.DeepCopy()}))
		}
		rc.requestEvents(before, q)
	}
	for _, d := range r.plan.Schemas {
		if d.Branch != "" {
			held[d.Branch] = true
		}
	}
	if planned {
		metricPendingApprovals.Set(float64(pending))
		metricBreakingHeld.Set(float64(len(held)))
		for i := range r.tpls {
			t := &r.tpls[i]
			before := t.Status.DeepCopy()
			rc.templateStatus(r, t)
			v1alpha1.SetHealthConditions(&t.Status.Conditions, t.Generation)
			if !equality.Semantic.DeepEqual(before, &t.Status) {
				m := statusMeta(t)
				errs = append(errs, rc.patchStatus(ctx, t,
					&v1alpha1.APIServiceExportTemplate{ObjectMeta: m, Status: *before},
					&v1alpha1.APIServiceExportTemplate{ObjectMeta: m, Status: *t.Status.DeepCopy()}))
			}
			rc.templateEvents(before, t)
		}
	}
	errs = append(errs, rc.reportClusters(ctx, r, runErr))
	errs = append(errs, rc.reportNamespaces(ctx, r, runErr))
	return errors.Join(errs...)
}

// statusMeta is what a status patch needs of obj's metadata.
func statusMeta(obj client.Object) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: obj.GetName(), Namespace: obj.GetNamespace(), UID: obj.GetUID()}
}

// patchStatus writes obj's status, from before to after: two objects of
// obj's kind holding its name and a status each, so the merge patch is
// computed from the statuses alone and the API server's answer, decoded into
// after, is dropped once its status is remembered (see fresh). At 1000
// clusters the first reconcile writes 10,000 statuses; keeping whole
// objects, as written and as answered, was tens of megabytes.
func (rc *Reconciler) patchStatus(ctx context.Context, obj, before, after client.Object) error {
	err := rc.opts.Client.Status().Patch(ctx, after, client.MergeFrom(before))
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("status of %s %s: %w", kindOf(obj), client.ObjectKeyFromObject(obj), err)
	}
	if err == nil {
		rc.wrote(obj.GetUID(), obj.GetResourceVersion(), after)
	}
	return nil
}

// kindOf is obj's kind for messages.
func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *v1alpha1.APIServiceExportRequest:
		return "APIServiceExportRequest"
	case *v1alpha1.APIServiceExportTemplate:
		return "APIServiceExportTemplate"
	case *v1alpha1.AppCluster:
		return "AppCluster"
	case *v1alpha1.APIServiceNamespace:
		return "APIServiceNamespace"
	}
	return fmt.Sprintf("%T", obj)
}

func (rc *Reconciler) requestStatus(r *run, q *v1alpha1.APIServiceExportRequest, d plan.RequestDecision, runErr error) {
	st := &q.Status
	gen := q.Generation
	set := func(typ string, ok bool, reason, msg string) {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason,
			Message: msg, ObservedGeneration: gen})
	}
	st.ObservedGeneration = gen
	problem := firstProblem(d.Problems)

	where := rc.opts.Branch
	inRepo := d.Rendered && r.pushed
	approvalMsg := d.Message
	if d.Approval == plan.Pending {
		where = "branch " + d.Branch
		_, onRemote := r.branchHead(d.Branch)
		inRepo = onRemote && d.Rendered
		if !onRemote && d.Branch != "" {
			approvalMsg = pendingNotPushed(d.Branch, r.branchErrs[d.Branch], runErr)
		}
	}
	switch {
	case inRepo:
		set(v1alpha1.RenderedCondition, true, v1alpha1.SucceededReason, "exports rendered in "+where)
	case problem != nil:
		set(v1alpha1.RenderedCondition, false, problem.Reason, problem.String())
	case d.HeldBack != nil:
		set(v1alpha1.RenderedCondition, false, v1alpha1.RenderFailedReason, heldBackMessage(d))
	case runErr != nil:
		set(v1alpha1.RenderedCondition, false, reasonOf(runErr), runErr.Error())
	case d.Approval == plan.Pending && r.branchErrs[d.Branch] != nil:
		set(v1alpha1.RenderedCondition, false, v1alpha1.BranchNotPushedReason, approvalMsg)
	case d.Approval == plan.Rejected:
		// never "not in the repository yet": it will not be, until someone
		// acts (the approval message says who and how)
		set(v1alpha1.RenderedCondition, false, d.Reason, approvalMsg)
	default:
		set(v1alpha1.RenderedCondition, false, v1alpha1.ProgressingReason, "not in the repository yet")
	}
	switch d.Approval {
	case plan.Approved:
		set(v1alpha1.ApprovedCondition, true, v1alpha1.SucceededReason, d.Message)
	default:
		set(v1alpha1.ApprovedCondition, false, d.Reason, approvalMsg)
	}

	head := r.head()
	onMain := d.Approval == plan.Approved && d.Rendered && r.pushed
	ready, reason, msg := false, v1alpha1.ProgressingReason, "waiting for the control-plane apply"
	switch {
	case d.Approval != plan.Approved:
		reason, msg = d.Reason, approvalMsg
	case problem != nil && problem.Reason == v1alpha1.ExportUnreadableReason:
		// the file to fix, rather than what it breaks (the build and apply
		// of its cluster's folder, which fail for that cluster alone)
		reason, msg = problem.Reason, "keeps its last good files: "+problem.String()
	case (onMain || d.Kept) && r.clusterErrs[d.Cluster] != nil:
		// Only this cluster's folder failed (the others are applied). It
		// comes first: a refused folder is what an operator must see.
		err := r.clusterErrs[d.Cluster]
		reason, msg = reasonOf(err), err.Error()
	case d.Kept:
		reason, msg = problem.Reason, "keeps its last good files in "+rc.opts.Branch+": "+problem.String()
	case problem != nil && !d.Rendered:
		reason, msg = problem.Reason, problem.String()
	case d.HeldBack != nil:
		reason, msg = v1alpha1.RenderFailedReason, heldBackMessage(d)
	case runErr != nil:
		reason, msg = reasonOf(runErr), runErr.Error()
	case onMain && r.applied == head && len(d.Held) > 0:
		reason, msg = heldReason(d.Held[0]), heldMessage(d.Held[0])
	case onMain && r.applied == head:
		ready, reason, msg = true, v1alpha1.SucceededReason, "applied at "+rc.revision(head)
	}
	if problem != nil && d.Rendered && ready {
		ready, reason = false, v1alpha1.RenderFailedReason
		msg = "keeps its last good files: " + problem.String()
	}
	set(v1alpha1.ReadyCondition, ready, reason, msg)

	switch {
	case d.Kept:
		// still bound by the files main keeps: the phase stays
	case d.Approval == plan.Rejected, problem != nil && !d.Rendered:
		st.Phase = v1alpha1.RequestFailed
	case onMain:
		st.Phase = v1alpha1.RequestSucceeded
	default:
		st.Phase = v1alpha1.RequestPending
	}
	switch {
	case onMain:
		st.Revision = rc.revision(head)
	case d.Approval == plan.Pending && d.Branch != "":
		// only a branch the remote holds: a Pending request whose revision
		// names its branch is rejected when that branch disappears
		if h, ok := r.branchHead(d.Branch); ok {
			st.Revision = staterepo.Revision{Branch: d.Branch, Hash: h}.String()
		}
	}
	if d.Kept {
		return // the exports main keeps are the ones status lists
	}
	st.Exports = nil
	for _, e := range d.Exports {
		st.Exports = append(st.Exports, v1alpha1.ExportStatus{Name: e.Name, SchemaHash: e.SchemaHash})
	}
}

// pendingNotPushed says why a pending request's approval branch is not in
// the repository yet.
func pendingNotPushed(branch string, pushErr, runErr error) string {
	switch {
	case pushErr != nil:
		return fmt.Sprintf("approval branch %s could not be pushed (tried again on the next reconcile): %v", branch, pushErr)
	case runErr != nil:
		return fmt.Sprintf("approval branch %s is not pushed yet: %v", branch, runErr)
	}
	return fmt.Sprintf("approval branch %s is not pushed yet", branch)
}

// failedStatus marks a request when the run stopped before deciding.
func (rc *Reconciler) failedStatus(q *v1alpha1.APIServiceExportRequest, runErr error) {
	if runErr == nil {
		return
	}
	meta.SetStatusCondition(&q.Status.Conditions, metav1.Condition{Type: v1alpha1.ReadyCondition,
		Status: metav1.ConditionFalse, Reason: reasonOf(runErr), Message: runErr.Error(), ObservedGeneration: q.Generation})
}

func (rc *Reconciler) templateStatus(r *run, t *v1alpha1.APIServiceExportTemplate) {
	st := &t.Status
	st.ObservedGeneration = t.Generation
	ready, reason, msg := true, v1alpha1.SucceededReason, "rendered"
	for _, pr := range r.plan.Problems {
		if pr.Kind == "APIServiceExportTemplate" && pr.Name == t.Name {
			ready, reason, msg = false, pr.Reason, pr.String()+"; its exports keep their last good files in every cluster that binds it"
			break
		}
	}
	for _, d := range r.plan.Schemas {
		if d.Template == t.Name && d.State == plan.SchemaHeld {
			ready, reason, msg = false, heldReason(d), heldMessage(d)
			break
		}
	}
	status := metav1.ConditionFalse
	if ready {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ReadyCondition, Status: status,
		Reason: reason, Message: msg, ObservedGeneration: t.Generation})
	clusters := map[string]bool{}
	for _, d := range r.plan.Requests {
		if d.Template == t.Name && d.Approval == plan.Approved && (d.Rendered || d.Kept) {
			clusters[d.Cluster] = true
		}
	}
	st.BoundClusters = int32(len(clusters))
}

// heldBackMessage says which other object's problem holds the request's
// cluster back.
func heldBackMessage(d plan.RequestDecision) string {
	return fmt.Sprintf("cluster %s is held back until this is fixed: %s", d.Cluster, d.HeldBack.String())
}

func heldReason(d plan.SchemaDecision) string {
	if d.Policy == v1alpha1.SchemaUpdateNever {
		return v1alpha1.SchemaHeldReason
	}
	return v1alpha1.SchemaBreakingReason
}

// heldMessage names the CRD, the branch and the first findings.
func heldMessage(d plan.SchemaDecision) string {
	if d.Policy == v1alpha1.SchemaUpdateNever {
		return fmt.Sprintf("CRD %s changed (%s -> %s); schemaUpdatePolicy Never keeps the schema main holds",
			d.CRD, staterepo.ShortHash(d.MainHash, staterepo.SchemaDigits), staterepo.ShortHash(d.LiveHash, staterepo.SchemaDigits))
	}
	var fs []string
	for i, f := range d.Report.BreakingFindings() {
		if i == 3 {
			fs = append(fs, "...")
			break
		}
		fs = append(fs, plan.FindingLine(f))
	}
	return fmt.Sprintf("breaking change of CRD %s held on branch %s until it is merged into main: %s",
		d.CRD, d.Branch, strings.Join(fs, "; "))
}

func firstProblem(ps []render.Problem) *render.Problem {
	if len(ps) == 0 {
		return nil
	}
	return &ps[0]
}

// requestEvents records what changed of Approved and Ready.
func (rc *Reconciler) requestEvents(before *v1alpha1.APIServiceExportRequestStatus, q *v1alpha1.APIServiceExportRequest) {
	rc.conditionEvent(q, before.Conditions, q.Status.Conditions, v1alpha1.ApprovedCondition, v1alpha1.ReadyCondition)
}

func (rc *Reconciler) templateEvents(before *v1alpha1.APIServiceExportTemplateStatus, t *v1alpha1.APIServiceExportTemplate) {
	rc.conditionEvent(t, before.Conditions, t.Status.Conditions, v1alpha1.ReadyCondition)
}

// conditionEvent records one event on obj when any of the given condition
// types changed status or reason in this reconcile, whatever their number:
// a new request that is approved and applied in one reconcile gets one
// event, not one per condition (at 1000 clusters the first reconcile sends
// 10,000 events instead of 20,000). The event's action lists the changed
// types ("Approved,Ready"); its type is Warning when one of them is not
// True; its reason is that of the first one not True, else of the last one
// changed; its note is the message of a single change, or each change as
// "<type> <reason>: <message>" joined by "; ".
func (rc *Reconciler) conditionEvent(obj runtime.Object, before, after []metav1.Condition, types ...string) {
	if rc.opts.Recorder == nil {
		return
	}
	var changed []*metav1.Condition
	var actions []string
	for _, typ := range types {
		b, a := meta.FindStatusCondition(before, typ), meta.FindStatusCondition(after, typ)
		if a == nil || (b != nil && b.Status == a.Status && b.Reason == a.Reason) {
			continue
		}
		changed = append(changed, a)
		actions = append(actions, typ)
	}
	if len(changed) == 0 {
		return
	}
	kind, reason := "Normal", changed[len(changed)-1].Reason
	for _, c := range changed {
		if c.Status != metav1.ConditionTrue {
			kind, reason = "Warning", c.Reason
			break
		}
	}
	note := changed[0].Message
	if len(changed) > 1 {
		parts := make([]string, len(changed))
		for i, c := range changed {
			parts[i] = c.Type + " " + c.Reason + ": " + c.Message
		}
		note = strings.Join(parts, "; ")
	}
	rc.opts.Recorder.Eventf(obj, nil, kind, reason, strings.Join(actions, ","), "%s", note)
}
