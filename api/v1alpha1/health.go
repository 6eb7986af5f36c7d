package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Health of bindsync objects for kstatus-aware tools (Flux's wait and health
// checks, Argo CD, `kubectl wait`): every object whose Ready condition is not
// True also carries Reconciling or Stalled, with Ready's reason and message.
// kstatus reads Reconciling as InProgress and Stalled as Failed; both are
// absent while Ready is True.

// stallingReasons are the Ready=False reasons that need a human: bad input,
// a change waiting for an approval, something outside bindsync that must be
// changed. Every other reason resolves by itself (bindsync retries, or waits
// for something that is on its way) and brings Reconciling. The table in
// docs/conditions.md ("Health") lists both kinds;
// TestEveryReasonHasAHealth keeps it and this map equal.
var stallingReasons = map[string]bool{
	TemplateNotFoundReason:      true,
	CRDNotFoundReason:           true,
	InvalidCRDReason:            true,
	InvalidClusterNameReason:    true,
	ConflictingRequestReason:    true,
	InvalidTemplateReason:       true,
	IneffectiveClaimReason:      true,
	DuplicateReason:             true,
	ClusterNotFoundReason:       true,
	UnsupportedConversionReason: true,
	PendingApprovalReason:       true,
	RejectedReason:              true,
	SchemaBreakingReason:        true,
	SchemaHeldReason:            true,
	RenderFailedReason:          true,
	ForeignCRDReason:            true,
	SignatureInvalidReason:      true,
	BuildFailedReason:           true,
	ApplyFailedReason:           true,
	RefusedReason:               true,
	OrphanedReason:              true,
	ApplyRefusedReason:          true,
	SchemaRollbackReason:        true,
	DuplicateRequestReason:      true,
	ExportUnreadableReason:      true,
	MainBranchLostReason:        true,
	SyncFailedReason:            true,
	NoControlPlaneReason:        true,
	InvalidNamespaceReason:      true,
	UnsupportedScopeReason:      true,
}

// reconcilingReasons resolve by themselves: bindsync retries, or waits for
// an object that is on its way. A reason in neither map is taken as this
// kind too (a transient error bindsync has no constant for).
var reconcilingReasons = map[string]bool{
	ProgressingReason:             true,
	GitUnavailableReason:          true,
	ControlPlaneUnavailableReason: true,
	CommitFailedReason:            true,
	ExportNotFoundReason:          true,
	SourceUnavailableReason:       true,
	CRDNotEstablishedReason:       true,
	InstancesExistReason:          true,
	BranchNotPushedReason:         true,
	NamespacePendingReason:        true,
	CopyRestoredReason:            true,
}

// HealthCondition returns the kstatus condition type a Ready=False reason
// brings: StalledCondition for what needs a human, ReconcilingCondition
// for the rest. classified is false for a reason in neither table.
func HealthCondition(reason string) (typ string, classified bool) {
	switch {
	case stallingReasons[reason]:
		return StalledCondition, true
	case reconcilingReasons[reason]:
		return ReconcilingCondition, true
	}
	return ReconcilingCondition, false
}

// SetHealthConditions sets Reconciling or Stalled from the Ready condition
// in conds: absent both while Ready is True (or not set yet), else the one
// HealthCondition names for Ready's reason, True, with Ready's reason and
// message, and the other removed. A condition that stays keeps its
// lastTransitionTime, so an unchanged state writes nothing.
func SetHealthConditions(conds *[]metav1.Condition, generation int64) {
	ready := meta.FindStatusCondition(*conds, ReadyCondition)
	if ready == nil || ready.Status == metav1.ConditionTrue {
		meta.RemoveStatusCondition(conds, ReconcilingCondition)
		meta.RemoveStatusCondition(conds, StalledCondition)
		return
	}
	typ, _ := HealthCondition(ready.Reason)
	other := StalledCondition
	if typ == StalledCondition {
		other = ReconcilingCondition
	}
	reason, msg := ready.Reason, ready.Message
	meta.RemoveStatusCondition(conds, other)
	meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: metav1.ConditionTrue,
		Reason: reason, Message: msg, ObservedGeneration: generation})
}
