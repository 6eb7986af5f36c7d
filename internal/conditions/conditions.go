// Package conditions sets the conditions of a bindsync object's status: one
// call names the type, whether it holds, the reason and the message, and the
// generation it was observed at. A condition's lastTransitionTime changes only
// when its status changes, so a reason or message that moves while the status
// stays does not look like a transition to kubectl wait or an alert.
//
// The backend and the agent both write conditions through it; the reasons are
// the constants of api/v1alpha1.
package conditions

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Set sets condition typ in conds: True when ok, else False, with reason and
// message, observed at generation. An existing condition of that type keeps
// its lastTransitionTime unless its status changes.
func Set(conds *[]metav1.Condition, typ string, ok bool, reason, message string, generation int64) {
	meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: Status(ok), Reason: reason,
		Message: message, ObservedGeneration: generation})
}

// MarkTrue sets condition typ in conds to True (see Set).
func MarkTrue(conds *[]metav1.Condition, typ, reason, message string, generation int64) {
	Set(conds, typ, true, reason, message, generation)
}

// MarkFalse sets condition typ in conds to False (see Set).
func MarkFalse(conds *[]metav1.Condition, typ, reason, message string, generation int64) {
	Set(conds, typ, false, reason, message, generation)
}

// Status is True when ok, else False.
func Status(ok bool) metav1.ConditionStatus {
	if ok {
		return metav1.ConditionTrue
	}
	return metav1.ConditionFalse
}
