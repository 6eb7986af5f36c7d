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

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/conditions"
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
			requestStatus(&q.Status, q.Generation, d, rc.requestRun(r, d, runErr))
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

// requestRun is what one request's status depends on beyond its decision:
// what the run did to main, to the request's approval branch and to its
// cluster. It is filled by Reconciler.requestRun, so requestStatus reads
// nothing else.
type requestRun struct {
	mainBranch string        // the branch the backend renders (main)
	pushed     bool          // main was pushed in this run
	head       plumbing.Hash // main's head as far as the run knows it
	applied    plumbing.Hash // main's head the control plane applied
	branchHead plumbing.Hash // the request's approval branch on the remote
	onRemote   bool          // the approval branch is on the remote
	branchErr  error         // why the approval branch was not pushed
	clusterErr error         // why the request's cluster folder did not apply
	runErr     error         // what stopped the run, if anything did
}

// requestRun gathers what r knows about request decision d.
func (rc *Reconciler) requestRun(r *run, d plan.RequestDecision, runErr error) requestRun {
	in := requestRun{mainBranch: rc.opts.Branch, pushed: r.pushed, head: r.head(), applied: r.applied,
		branchErr: r.branchErrs[d.Branch], clusterErr: r.clusterErrs[d.Cluster], runErr: runErr}
	in.branchHead, in.onRemote = r.branchHead(d.Branch)
	return in
}

// requestStatus writes a request's status at generation gen from its
// decision d and what the run did (in): the Rendered, Approved and Ready
// conditions, the phase, the revision and the exports. It is pure: the
// same inputs give the same status (but for lastTransitionTime, which moves
// only when a condition's status does).
func requestStatus(st *v1alpha1.APIServiceExportRequestStatus, gen int64, d plan.RequestDecision, in requestRun) {
	st.ObservedGeneration = gen
	problem := firstProblem(d.Problems)
	approvalMsg := approvalMessage(d, in)
	ok, reason, msg := renderedCondition(d, in, problem, approvalMsg)
	conditions.Set(&st.Conditions, v1alpha1.RenderedCondition, ok, reason, msg, gen)
	if d.Approval == plan.Approved {
		conditions.MarkTrue(&st.Conditions, v1alpha1.ApprovedCondition, v1alpha1.SucceededReason, d.Message, gen)
	} else {
		conditions.MarkFalse(&st.Conditions, v1alpha1.ApprovedCondition, d.Reason, approvalMsg, gen)
	}
	ok, reason, msg = readyCondition(d, in, problem, approvalMsg)
	conditions.Set(&st.Conditions, v1alpha1.ReadyCondition, ok, reason, msg, gen)

	onMain := d.Approval == plan.Approved && d.Rendered && in.pushed
	st.Phase = requestPhase(d, problem, onMain, st.Phase)
	switch {
	case onMain:
		st.Revision = revisionOf(in.mainBranch, in.head)
	case d.Approval == plan.Pending && d.Branch != "" && in.onRemote:
		// only a branch the remote holds: a Pending request whose revision
		// names its branch is rejected when that branch disappears
		st.Revision = revisionOf(d.Branch, in.branchHead)
	}
	if d.Kept {
		return // the exports main keeps are the ones status lists
	}
	st.Exports = nil
	for _, e := range d.Exports {
		st.Exports = append(st.Exports, v1alpha1.ExportStatus{Name: e.Name, SchemaHash: e.SchemaHash})
	}
}

// approvalMessage is the Approved condition's message: the decision's, or,
// for a pending request whose approval branch is not on the remote, why.
func approvalMessage(d plan.RequestDecision, in requestRun) string {
	if d.Approval == plan.Pending && !in.onRemote && d.Branch != "" {
		return pendingNotPushed(d.Branch, in.branchErr, in.runErr)
	}
	return d.Message
}

// renderedCondition says whether the request's exports are in the
// repository (main, or its approval branch while pending), or why not.
func renderedCondition(d plan.RequestDecision, in requestRun, problem *render.Problem, approvalMsg string) (ok bool, reason, msg string) {
	where, inRepo := in.mainBranch, d.Rendered && in.pushed
	if d.Approval == plan.Pending {
		where, inRepo = "branch "+d.Branch, in.onRemote && d.Rendered
	}
	switch {
	case inRepo:
		return true, v1alpha1.SucceededReason, "exports rendered in " + where
	case problem != nil:
		return false, problem.Reason, problem.String()
	case d.HeldBack != nil:
		return false, v1alpha1.RenderFailedReason, heldBackMessage(d)
	case in.runErr != nil:
		return false, reasonOf(in.runErr), in.runErr.Error()
	case d.Approval == plan.Pending && in.branchErr != nil:
		return false, v1alpha1.BranchNotPushedReason, approvalMsg
	case d.Approval == plan.Rejected:
		// never "not in the repository yet": it will not be, until someone
		// acts (the approval message says who and how)
		return false, d.Reason, approvalMsg
	}
	return false, v1alpha1.ProgressingReason, "not in the repository yet"
}

// readyCondition says whether the request is applied at main's head, or
// the first reason it is not.
func readyCondition(d plan.RequestDecision, in requestRun, problem *render.Problem, approvalMsg string) (ok bool, reason, msg string) {
	onMain := d.Approval == plan.Approved && d.Rendered && in.pushed
	ready, reason, msg := false, v1alpha1.ProgressingReason, "waiting for the control-plane apply"
	switch {
	case d.Approval != plan.Approved:
		reason, msg = d.Reason, approvalMsg
	case problem != nil && problem.Reason == v1alpha1.ExportUnreadableReason:
		// the file to fix, rather than what it breaks (the build and apply
		// of its cluster's folder, which fail for that cluster alone)
		reason, msg = problem.Reason, "keeps its last good files: "+problem.String()
	case (onMain || d.Kept) && in.clusterErr != nil:
		// Only this cluster's folder failed (the others are applied). It
		// comes first: a refused folder is what an operator must see.
		reason, msg = reasonOf(in.clusterErr), in.clusterErr.Error()
	case d.Kept:
		reason, msg = problem.Reason, "keeps its last good files in "+in.mainBranch+": "+problem.String()
	case problem != nil && !d.Rendered:
		reason, msg = problem.Reason, problem.String()
	case d.HeldBack != nil:
		reason, msg = v1alpha1.RenderFailedReason, heldBackMessage(d)
	case in.runErr != nil:
		reason, msg = reasonOf(in.runErr), in.runErr.Error()
	case onMain && in.applied == in.head && len(d.Held) > 0:
		reason, msg = heldReason(d.Held[0]), heldMessage(d.Held[0])
	case onMain && in.applied == in.head:
		ready, reason, msg = true, v1alpha1.SucceededReason, "applied at "+revisionOf(in.mainBranch, in.head)
	}
	if problem != nil && d.Rendered && ready {
		ready, reason = false, v1alpha1.RenderFailedReason
		msg = "keeps its last good files: " + problem.String()
	}
	return ready, reason, msg
}

// requestPhase is the request's phase; a kept request (still bound by the
// files main keeps) keeps the one it had.
func requestPhase(d plan.RequestDecision, problem *render.Problem, onMain bool, had v1alpha1.RequestPhase) v1alpha1.RequestPhase {
	switch {
	case d.Kept:
		return had
	case d.Approval == plan.Rejected, problem != nil && !d.Rendered:
		return v1alpha1.RequestFailed
	case onMain:
		return v1alpha1.RequestSucceeded
	}
	return v1alpha1.RequestPending
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
	conditions.MarkFalse(&q.Status.Conditions, v1alpha1.ReadyCondition, reasonOf(runErr), runErr.Error(), q.Generation)
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
	conditions.Set(&st.Conditions, v1alpha1.ReadyCondition, ready, reason, msg, t.Generation)
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
