package bind

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"

	_ "github.com/bindsync/bindsync/internal/testutil/golden" // accepts -update like every test package
)

func cond(typ string, ok bool, reason, msg string) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: typ, Status: s, Reason: reason, Message: msg}
}

func request(gen int64, st v1alpha1.APIServiceExportRequestStatus) *v1alpha1.APIServiceExportRequest {
	q := &v1alpha1.APIServiceExportRequest{ObjectMeta: metav1.ObjectMeta{Generation: gen}}
	q.Status = st
	return q
}

var pgExport = []v1alpha1.ExportStatus{{Name: "postgresqlinstances.anynines.com", SchemaHash: "abc"}}

func TestStateOfARequest(t *testing.T) {
	for name, tc := range map[string]struct {
		q    *v1alpha1.APIServiceExportRequest
		want requestState
	}{
		"no status yet: the backend has not seen it": {q: request(1, v1alpha1.APIServiceExportRequestStatus{}), want: requestState{}},
		"status of an older generation is not read": {
			q:    request(2, v1alpha1.APIServiceExportRequestStatus{ObservedGeneration: 1, Phase: v1alpha1.RequestFailed}),
			want: requestState{},
		},
		"unknown template": {
			q: request(1, v1alpha1.APIServiceExportRequestStatus{ObservedGeneration: 1, Phase: v1alpha1.RequestFailed, Conditions: []metav1.Condition{
				cond(v1alpha1.RenderedCondition, false, v1alpha1.TemplateNotFoundReason, `template "x" does not exist`),
				cond(v1alpha1.ReadyCondition, false, v1alpha1.TemplateNotFoundReason, `template "x" does not exist`)}}),
			want: requestState{observed: true, notFound: `template "x" does not exist`, lastState: `Ready=False TemplateNotFound: template "x" does not exist`},
		},
		"pending approval names the branch of its revision": {
			q: request(1, v1alpha1.APIServiceExportRequestStatus{ObservedGeneration: 1, Phase: v1alpha1.RequestPending, Exports: pgExport,
				Revision: "bindsync/approve/team-b/pg@sha1:0123456789012345678901234567890123456789",
				Conditions: []metav1.Condition{
					cond(v1alpha1.RenderedCondition, true, v1alpha1.SucceededReason, "exports rendered in branch bindsync/approve/team-b/pg"),
					cond(v1alpha1.ApprovedCondition, false, v1alpha1.PendingApprovalReason, "waiting for branch bindsync/approve/team-b/pg to be merged into main")}}),
			want: requestState{observed: true, rendered: true, pending: "bindsync/approve/team-b/pg"},
		},
		"pending approval without a revision reads the message": {
			q: request(1, v1alpha1.APIServiceExportRequestStatus{ObservedGeneration: 1, Conditions: []metav1.Condition{
				cond(v1alpha1.ApprovedCondition, false, v1alpha1.PendingApprovalReason, "waiting for branch bindsync/approve/c/r to be merged into main")}}),
			want: requestState{observed: true, pending: "bindsync/approve/c/r"},
		},
		"rejected": {
			q: request(1, v1alpha1.APIServiceExportRequestStatus{ObservedGeneration: 1, Phase: v1alpha1.RequestFailed, Conditions: []metav1.Condition{
				cond(v1alpha1.ApprovedCondition, false, v1alpha1.RejectedReason, "approval branch b was deleted")}}),
			want: requestState{observed: true, rejected: "approval branch b was deleted"},
		},
		"approved and rendered": {
			q: request(1, v1alpha1.APIServiceExportRequestStatus{ObservedGeneration: 1, Phase: v1alpha1.RequestSucceeded, Exports: pgExport, Conditions: []metav1.Condition{
				cond(v1alpha1.RenderedCondition, true, v1alpha1.SucceededReason, "exports rendered in main"),
				cond(v1alpha1.ApprovedCondition, true, v1alpha1.SucceededReason, "approval is Automatic")}}),
			want: requestState{observed: true, rendered: true, approved: true},
		},
		"stalled: it needs a human, bind stops waiting": {
			q: request(1, v1alpha1.APIServiceExportRequestStatus{ObservedGeneration: 1, Phase: v1alpha1.RequestPending, Conditions: []metav1.Condition{
				cond(v1alpha1.ReadyCondition, false, v1alpha1.ApplyFailedReason, "cluster folder not applied"),
				{Type: v1alpha1.StalledCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.ApplyFailedReason, Message: "cluster folder not applied", ObservedGeneration: 1}}}),
			want: requestState{observed: true, stalled: "ApplyFailed: cluster folder not applied", lastState: "Ready=False ApplyFailed: cluster folder not applied"},
		},
		"pending approval is no stall: bind waits for it": {
			q: request(1, v1alpha1.APIServiceExportRequestStatus{ObservedGeneration: 1, Phase: v1alpha1.RequestPending, Conditions: []metav1.Condition{
				cond(v1alpha1.ApprovedCondition, false, v1alpha1.PendingApprovalReason, "waiting for branch bindsync/approve/c/r to be merged into main"),
				{Type: v1alpha1.StalledCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.PendingApprovalReason, Message: "waiting", ObservedGeneration: 1}}}),
			want: requestState{observed: true, pending: "bindsync/approve/c/r"},
		},
		"a Stalled condition of an older generation is not read": {
			q: request(2, v1alpha1.APIServiceExportRequestStatus{ObservedGeneration: 2, Conditions: []metav1.Condition{
				{Type: v1alpha1.StalledCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.ApplyFailedReason, Message: "old", ObservedGeneration: 1}}}),
			want: requestState{observed: true},
		},
		"failed for another reason": {
			q: request(1, v1alpha1.APIServiceExportRequestStatus{ObservedGeneration: 1, Phase: v1alpha1.RequestFailed, Conditions: []metav1.Condition{
				cond(v1alpha1.ReadyCondition, false, v1alpha1.CRDNotFoundReason, "no CRD")}}),
			want: requestState{observed: true, failed: "CRDNotFound: no CRD", lastState: "Ready=False CRDNotFound: no CRD"},
		},
		"failed and stalled": {
			q: request(1, v1alpha1.APIServiceExportRequestStatus{ObservedGeneration: 1, Phase: v1alpha1.RequestFailed, Conditions: []metav1.Condition{
				cond(v1alpha1.ReadyCondition, false, v1alpha1.CRDNotFoundReason, "no CRD"),
				{Type: v1alpha1.StalledCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.CRDNotFoundReason, Message: "no CRD", ObservedGeneration: 1}}}),
			want: requestState{observed: true, failed: "CRDNotFound: no CRD", stalled: "CRDNotFound: no CRD", lastState: "Ready=False CRDNotFound: no CRD"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, stateOf(tc.q))
		})
	}
}

func TestPrintBindings(t *testing.T) {
	bs := []v1alpha1.APIServiceBinding{{ObjectMeta: metav1.ObjectMeta{Name: "a.example.com"}}, {ObjectMeta: metav1.ObjectMeta{Name: "b.example.com"}}}
	var names bytes.Buffer
	require.NoError(t, printBindings(&names, "", bs))
	assert.Equal(t, "a.example.com\nb.example.com\n", names.String())
	var y bytes.Buffer
	require.NoError(t, printBindings(&y, "yaml", bs))
	assert.Contains(t, y.String(), "kind: APIServiceBinding")
	assert.Contains(t, y.String(), "name: b.example.com")

	var n bytes.Buffer
	require.NoError(t, printBindings(&n, "name", bs))
	assert.Equal(t, "apiservicebinding.bindsync.io/a.example.com\napiservicebinding.bindsync.io/b.example.com\n", n.String(), "as kubectl -o name")

	bs[0].Spec.DeletionPolicy = v1alpha1.DeletionDelete
	bs[0].Status.CRDName, bs[0].Status.LastAppliedRevision = "a.example.com", "main@sha1:0123"
	bs[0].Status.Conditions = []metav1.Condition{cond(v1alpha1.ReadyCondition, true, v1alpha1.SucceededReason, "applied")}
	var w bytes.Buffer
	require.NoError(t, printBindings(&w, "wide", bs))
	assert.Regexp(t, `^NAME +READY +REASON +DELETION POLICY +CRD +REVISION\n`+
		`a\.example\.com +True +Succeeded +Delete +a\.example\.com +main@sha1:0123\n`+
		`b\.example\.com +- +- +- +- +-\n$`, w.String())
}
