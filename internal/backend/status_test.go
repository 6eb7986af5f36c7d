package backend

import (
	"errors"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/render"
)

// cond is one expected condition: its status, reason and a part of its message.
type cond struct {
	ok      bool
	reason  string
	message string
}

// TestRequestStatus is requestStatus's specification: for each outcome of
// the Rendered, Approved and Ready conditions, the phase and the revision,
// the decision and run that lead to it.
func TestRequestStatus(t *testing.T) {
	head := plumbing.NewHash("1111111111111111111111111111111111111111")
	old := plumbing.NewHash("2222222222222222222222222222222222222222")
	branchHead := plumbing.NewHash("3333333333333333333333333333333333333333")
	tplProblem := render.Problem{Kind: "APIServiceExportTemplate", Name: "db", Reason: v1alpha1.TemplateNotFoundReason, Message: "no such template"}
	unreadable := render.Problem{Kind: "APIServiceExportRequest", Namespace: "cluster-a", Name: "db", Reason: v1alpha1.ExportUnreadableReason, Message: "bad yaml"}
	otherProblem := render.Problem{Kind: "APIServiceExportRequest", Namespace: "cluster-a", Name: "other", Reason: v1alpha1.DuplicateReason, Message: "twice"}
	gitDown := &waitingError{Reason: v1alpha1.GitUnavailableReason, Err: errors.New("remote unreachable")}
	refused := &genericError{Reason: v1alpha1.ApplyRefusedReason, Err: errors.New("clusters/a: refused")}
	held := plan.SchemaDecision{Template: "db", CRD: "dbs.example.com", Policy: v1alpha1.SchemaUpdateNever, State: plan.SchemaHeld, MainHash: "aaaaaaaaaaaa", LiveHash: "bbbbbbbbbbbb"}
	exports := []render.ExportResult{{Name: "dbs.example.com", SchemaHash: "abc"}}

	approved := plan.RequestDecision{Namespace: "cluster-a", Name: "db", Cluster: "a", Template: "db",
		Approval: plan.Approved, Reason: v1alpha1.SucceededReason, Message: "approved by policy", Rendered: true, Exports: exports}
	pending := plan.RequestDecision{Namespace: "cluster-a", Name: "db", Cluster: "a", Template: "db",
		Approval: plan.Pending, Reason: v1alpha1.PendingApprovalReason, Message: "merge branch bind/a/db", Branch: "bind/a/db", Rendered: true, Exports: exports}
	rejected := plan.RequestDecision{Namespace: "cluster-a", Name: "db", Cluster: "a", Template: "db",
		Approval: plan.Rejected, Reason: v1alpha1.RejectedReason, Message: "branch deleted", Branch: "bind/a/db"}
	pushedApplied := requestRun{mainBranch: "main", pushed: true, head: head, applied: head}
	with := func(d plan.RequestDecision, f func(*plan.RequestDecision)) plan.RequestDecision { f(&d); return d }

	tests := []struct {
		name     string
		d        plan.RequestDecision
		in       requestRun
		phase    v1alpha1.RequestPhase // the phase the request had before is Succeeded
		rendered cond
		approved cond
		ready    cond
		revision string
		exports  bool // status lists the decision's exports
	}{
		{
			name: "approved, pushed and applied at main's head is Ready",
			d:    approved, in: pushedApplied, phase: v1alpha1.RequestSucceeded,
			rendered: cond{true, v1alpha1.SucceededReason, "exports rendered in main"},
			approved: cond{true, v1alpha1.SucceededReason, "approved by policy"},
			ready:    cond{true, v1alpha1.SucceededReason, "applied at main@sha1:" + head.String()},
			revision: "main@sha1:" + head.String(), exports: true,
		},
		{
			name: "approved and pushed but not yet applied waits for the apply",
			d:    approved, in: requestRun{mainBranch: "main", pushed: true, head: head, applied: old}, phase: v1alpha1.RequestSucceeded,
			rendered: cond{true, v1alpha1.SucceededReason, "exports rendered in main"},
			approved: cond{true, v1alpha1.SucceededReason, ""},
			ready:    cond{false, v1alpha1.ProgressingReason, "waiting for the control-plane apply"},
			revision: "main@sha1:" + head.String(), exports: true,
		},
		{
			name: "approved but not pushed yet is not in the repository yet",
			d:    approved, in: requestRun{mainBranch: "main", head: head, applied: head}, phase: v1alpha1.RequestPending,
			rendered: cond{false, v1alpha1.ProgressingReason, "not in the repository yet"},
			approved: cond{true, v1alpha1.SucceededReason, ""},
			ready:    cond{false, v1alpha1.ProgressingReason, "waiting for the control-plane apply"},
			exports:  true,
		},
		{
			name: "a schema change held under Never keeps Ready False with SchemaHeld",
			d:    with(approved, func(d *plan.RequestDecision) { d.Held = []plan.SchemaDecision{held} }), in: pushedApplied, phase: v1alpha1.RequestSucceeded,
			rendered: cond{true, v1alpha1.SucceededReason, ""},
			approved: cond{true, v1alpha1.SucceededReason, ""},
			ready:    cond{false, v1alpha1.SchemaHeldReason, "schemaUpdatePolicy Never"},
			revision: "main@sha1:" + head.String(), exports: true,
		},
		{
			name: "its own cluster's folder refused shows the apply error",
			d:    approved, in: requestRun{mainBranch: "main", pushed: true, head: head, applied: head, clusterErr: refused}, phase: v1alpha1.RequestSucceeded,
			rendered: cond{true, v1alpha1.SucceededReason, ""},
			approved: cond{true, v1alpha1.SucceededReason, ""},
			ready:    cond{false, v1alpha1.ApplyRefusedReason, "clusters/a: refused"},
			revision: "main@sha1:" + head.String(), exports: true,
		},
		{
			name: "a run stopped by git says so on Rendered and Ready",
			d:    approved, in: requestRun{mainBranch: "main", head: head, runErr: gitDown}, phase: v1alpha1.RequestPending,
			rendered: cond{false, v1alpha1.GitUnavailableReason, "remote unreachable"},
			approved: cond{true, v1alpha1.SucceededReason, ""},
			ready:    cond{false, v1alpha1.GitUnavailableReason, "remote unreachable"},
			exports:  true,
		},
		{
			name: "a problem of its own that was not rendered fails the request",
			d: with(approved, func(d *plan.RequestDecision) {
				d.Rendered, d.Problems, d.Exports = false, []render.Problem{tplProblem}, nil
			}), in: pushedApplied, phase: v1alpha1.RequestFailed,
			rendered: cond{false, v1alpha1.TemplateNotFoundReason, "no such template"},
			approved: cond{true, v1alpha1.SucceededReason, ""},
			ready:    cond{false, v1alpha1.TemplateNotFoundReason, "no such template"},
		},
		{
			name: "a problem while rendered keeps the last good files, never Ready",
			d:    with(approved, func(d *plan.RequestDecision) { d.Problems = []render.Problem{tplProblem} }), in: pushedApplied, phase: v1alpha1.RequestSucceeded,
			rendered: cond{true, v1alpha1.SucceededReason, ""},
			approved: cond{true, v1alpha1.SucceededReason, ""},
			ready:    cond{false, v1alpha1.RenderFailedReason, "keeps its last good files: "},
			revision: "main@sha1:" + head.String(), exports: true,
		},
		{
			name: "an unreadable export names the file to fix",
			d:    with(approved, func(d *plan.RequestDecision) { d.Problems = []render.Problem{unreadable} }), in: pushedApplied, phase: v1alpha1.RequestSucceeded,
			rendered: cond{true, v1alpha1.SucceededReason, ""},
			approved: cond{true, v1alpha1.SucceededReason, ""},
			ready:    cond{false, v1alpha1.ExportUnreadableReason, "keeps its last good files: "},
			revision: "main@sha1:" + head.String(), exports: true,
		},
		{
			name: "kept files keep the phase and the exports status had",
			d: with(approved, func(d *plan.RequestDecision) {
				d.Rendered, d.Kept, d.Problems = false, true, []render.Problem{tplProblem}
			}), in: pushedApplied, phase: v1alpha1.RequestSucceeded,
			rendered: cond{false, v1alpha1.TemplateNotFoundReason, ""},
			approved: cond{true, v1alpha1.SucceededReason, ""},
			ready:    cond{false, v1alpha1.TemplateNotFoundReason, "keeps its last good files in main: "},
		},
		{
			name: "kept files whose cluster folder failed show the apply error",
			d: with(approved, func(d *plan.RequestDecision) {
				d.Rendered, d.Kept, d.Problems = false, true, []render.Problem{tplProblem}
			}), in: requestRun{mainBranch: "main", pushed: true, head: head, applied: head, clusterErr: refused}, phase: v1alpha1.RequestSucceeded,
			rendered: cond{false, v1alpha1.TemplateNotFoundReason, ""},
			approved: cond{true, v1alpha1.SucceededReason, ""},
			ready:    cond{false, v1alpha1.ApplyRefusedReason, ""},
		},
		{
			name: "held back by another object's problem",
			d: with(approved, func(d *plan.RequestDecision) {
				d.Rendered, d.HeldBack, d.Exports = false, &otherProblem, nil
			}), in: pushedApplied, phase: v1alpha1.RequestPending,
			rendered: cond{false, v1alpha1.RenderFailedReason, "cluster a is held back until this is fixed"},
			approved: cond{true, v1alpha1.SucceededReason, ""},
			ready:    cond{false, v1alpha1.RenderFailedReason, "cluster a is held back until this is fixed"},
		},
		{
			name: "pending with its branch on the remote is rendered there and names it",
			d:    pending, in: requestRun{mainBranch: "main", pushed: true, head: head, applied: head, branchHead: branchHead, onRemote: true}, phase: v1alpha1.RequestPending,
			rendered: cond{true, v1alpha1.SucceededReason, "exports rendered in branch bind/a/db"},
			approved: cond{false, v1alpha1.PendingApprovalReason, "merge branch bind/a/db"},
			ready:    cond{false, v1alpha1.PendingApprovalReason, "merge branch bind/a/db"},
			revision: "bind/a/db@sha1:" + branchHead.String(), exports: true,
		},
		{
			name: "pending whose branch could not be pushed says so",
			d:    pending, in: requestRun{mainBranch: "main", pushed: true, head: head, applied: head, branchErr: errors.New("refused by hook")}, phase: v1alpha1.RequestPending,
			rendered: cond{false, v1alpha1.BranchNotPushedReason, "could not be pushed (tried again on the next reconcile): refused by hook"},
			approved: cond{false, v1alpha1.PendingApprovalReason, "could not be pushed"},
			ready:    cond{false, v1alpha1.PendingApprovalReason, "could not be pushed"},
			exports:  true,
		},
		{
			name: "pending whose branch is not pushed yet waits",
			d:    pending, in: requestRun{mainBranch: "main", head: head}, phase: v1alpha1.RequestPending,
			rendered: cond{false, v1alpha1.ProgressingReason, "not in the repository yet"},
			approved: cond{false, v1alpha1.PendingApprovalReason, "approval branch bind/a/db is not pushed yet"},
			ready:    cond{false, v1alpha1.PendingApprovalReason, "is not pushed yet"},
			exports:  true,
		},
		{
			name: "rejected is never 'not in the repository yet'",
			d:    rejected, in: pushedApplied, phase: v1alpha1.RequestFailed,
			rendered: cond{false, v1alpha1.RejectedReason, "branch deleted"},
			approved: cond{false, v1alpha1.RejectedReason, "branch deleted"},
			ready:    cond{false, v1alpha1.RejectedReason, "branch deleted"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := v1alpha1.APIServiceExportRequestStatus{Phase: v1alpha1.RequestSucceeded}
			requestStatus(&st, 4, tt.d, tt.in)
			assert.Equal(t, int64(4), st.ObservedGeneration)
			for typ, want := range map[string]cond{v1alpha1.RenderedCondition: tt.rendered,
				v1alpha1.ApprovedCondition: tt.approved, v1alpha1.ReadyCondition: tt.ready} {
				c := meta.FindStatusCondition(st.Conditions, typ)
				require.NotNil(t, c, typ)
				assert.Equal(t, want.ok, c.Status == metav1.ConditionTrue, typ)
				assert.Equal(t, want.reason, c.Reason, typ)
				assert.Contains(t, c.Message, want.message, typ)
				assert.Equal(t, int64(4), c.ObservedGeneration, typ)
			}
			assert.Equal(t, tt.phase, st.Phase)
			assert.Equal(t, tt.revision, st.Revision)
			if tt.exports {
				assert.Equal(t, []v1alpha1.ExportStatus{{Name: "dbs.example.com", SchemaHash: "abc"}}, st.Exports)
			} else {
				assert.Empty(t, st.Exports)
			}
		})
	}
}

// TestRequestStatusKeepsTransitionTime: a Ready condition whose reason moves
// while it stays False keeps its lastTransitionTime.
func TestRequestStatusKeepsTransitionTime(t *testing.T) {
	long := metav1.NewTime(metav1.Now().Add(-24 * 60 * 60 * 1e9).UTC().Truncate(1e9))
	st := v1alpha1.APIServiceExportRequestStatus{Conditions: []metav1.Condition{{Type: v1alpha1.ReadyCondition,
		Status: metav1.ConditionFalse, Reason: v1alpha1.GitUnavailableReason, LastTransitionTime: long}}}
	d := plan.RequestDecision{Approval: plan.Approved, Reason: v1alpha1.SucceededReason, Rendered: true}
	requestStatus(&st, 1, d, requestRun{mainBranch: "main", pushed: true, head: plumbing.NewHash("11"), applied: plumbing.ZeroHash})
	c := meta.FindStatusCondition(st.Conditions, v1alpha1.ReadyCondition)
	require.NotNil(t, c)
	assert.Equal(t, v1alpha1.ProgressingReason, c.Reason)
	assert.Equal(t, long, c.LastTransitionTime)
}
