package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// sourceReasons leave SchemaInSync as it was: the agent cannot tell.
var sourceReasons = map[string]bool{
	v1alpha1.SourceUnavailableReason: true,
	v1alpha1.SignatureInvalidReason:  true,
	v1alpha1.BuildFailedReason:       true,
}

// writeStatus writes each binding's status when it differs from what the
// API server holds: an unchanged pass writes nothing.
func (a *Agent) writeStatus(ctx context.Context, p *pass) error {
	var errs []error
	for i := range p.bindings {
		b := &p.bindings[i]
		s, ok := p.states[b.Name]
		if !ok || s.released {
			continue
		}
		next := b.Status.DeepCopy()
		nextStatus(next, b.Generation, p.rev, s, a.opts.Now())
		setInstancesStatus(next, a.opts.instanceMode(), b.Generation, s.reason == "" && b.DeletionTimestamp == nil)
		if equality.Semantic.DeepEqual(&b.Status, next) {
			continue
		}
		b.Status = *next
		if err := a.client.Status().Update(ctx, b); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("update status of APIServiceBinding %s: %w", b.Name, err))
		}
	}
	return errors.Join(errs...)
}

// nextStatus computes a binding's status after a pass from its last one.
// Condition times move only when a condition's status changes.
func nextStatus(st *v1alpha1.APIServiceBindingStatus, generation int64, rev string, s *outcome, now time.Time) {
	st.ObservedGeneration = generation
	if rev != "" {
		st.LastAttemptedRevision = rev
	}
	set := func(typ string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: generation,
		})
	}
	// Reconciling or Stalled follow Ready (v1alpha1.SetHealthConditions).
	defer v1alpha1.SetHealthConditions(&st.Conditions, generation)

	if s.reason == "" {
		hash := s.hash
		if st.BoundSchemaHash != hash || len(st.History) == 0 {
			st.History = append([]v1alpha1.BindingHistoryEntry{{Revision: rev, SchemaHash: hash, AppliedAt: metav1.NewTime(now.UTC().Truncate(time.Second))}}, st.History...)
			if len(st.History) > v1alpha1.MaxBindingHistory {
				st.History = st.History[:v1alpha1.MaxBindingHistory]
			}
		}
		st.CRDName, st.BoundSchemaHash, st.LastAppliedRevision = s.crdName, hash, rev
		set(v1alpha1.ReadyCondition, metav1.ConditionTrue, v1alpha1.SucceededReason,
			fmt.Sprintf("CustomResourceDefinition %s applied and Established at %s", s.crdName, rev))
		set(v1alpha1.SchemaInSyncCondition, metav1.ConditionTrue, v1alpha1.SucceededReason,
			fmt.Sprintf("schema %s as in the state repository", staterepo.ShortHash(hash, staterepo.ShortDigits)))
		return
	}

	msg := s.message
	if s.orphaned {
		msg += "; the CustomResourceDefinition was orphaned: bindsync's labels and field ownership dropped, CRD and instances kept"
	}
	set(v1alpha1.ReadyCondition, metav1.ConditionFalse, s.reason, msg)
	switch {
	case !sourceReasons[s.reason] && s.reason != v1alpha1.InstancesExistReason:
		set(v1alpha1.SchemaInSyncCondition, metav1.ConditionFalse, s.reason, msg)
	case meta.FindStatusCondition(st.Conditions, v1alpha1.SchemaInSyncCondition) == nil:
		set(v1alpha1.SchemaInSyncCondition, metav1.ConditionUnknown, s.reason, msg)
	}
}
