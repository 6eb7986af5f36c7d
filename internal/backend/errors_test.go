package backend

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// TestResult is the one mapping of a reconcile's typed error to a requeue:
// stalling input (a human must act) is polled again at the interval, never
// retried hot; waiting comes back soon; anything else backs off.
func TestResult(t *testing.T) {
	const interval = time.Minute
	lost := &stallingError{Reason: v1alpha1.MainBranchLostReason, Err: errors.New("the state repository has no branch main")}
	refused := &stallingError{Reason: v1alpha1.ApplyRefusedReason, Err: errors.New("clusters/a/control-plane refused")}
	gitDown := &waitingError{Reason: v1alpha1.GitUnavailableReason, Err: errors.New("dial tcp: refused"), RequeueAfter: 5 * time.Second}
	failed := &genericError{Reason: v1alpha1.CommitFailedReason, Err: errors.New("disk full")}
	tests := []struct {
		name    string
		err     error
		want    ctrl.Result
		wantErr bool
		reason  string
	}{
		{"success polls at the interval", nil, ctrl.Result{RequeueAfter: interval}, false, ""},
		{"main lost stalls: polled, not retried hot", fmt.Errorf("fetch: %w", lost), ctrl.Result{RequeueAfter: interval}, false, v1alpha1.MainBranchLostReason},
		{"a refused folder stalls", refused, ctrl.Result{RequeueAfter: interval}, false, v1alpha1.ApplyRefusedReason},
		{"waiting comes back after its delay", fmt.Errorf("fetch: %w", gitDown), ctrl.Result{RequeueAfter: 5 * time.Second}, false, v1alpha1.GitUnavailableReason},
		{"waiting never longer than the interval", &waitingError{Reason: v1alpha1.GitUnavailableReason, Err: errors.New("x"), RequeueAfter: time.Hour},
			ctrl.Result{RequeueAfter: interval}, false, v1alpha1.GitUnavailableReason},
		{"generic backs off", fmt.Errorf("commit: %w", failed), ctrl.Result{}, true, v1alpha1.CommitFailedReason},
		{"an untyped error backs off", errors.New("boom"), ctrl.Result{}, true, "ReconcileFailed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := result(tt.err, interval)
			assert.Equal(t, tt.want, got)
			if tt.wantErr {
				assert.ErrorIs(t, err, tt.err)
			} else {
				assert.NoError(t, err)
			}
			assert.Equal(t, tt.reason, reasonOf(tt.err))
		})
	}
}
