package backend

import (
	"errors"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
)

// stallingError is bad input: a human must change something. It is not
// retried hot.
type stallingError struct {
	Reason string
	Err    error
}

func (e *stallingError) Error() string { return e.Err.Error() }
func (e *stallingError) Unwrap() error { return e.Err }

// waitingError is a dependency that is not there yet (the git remote, the
// API server): retried after RequeueAfter.
type waitingError struct {
	Reason       string
	Err          error
	RequeueAfter time.Duration
}

func (e *waitingError) Error() string { return e.Err.Error() }
func (e *waitingError) Unwrap() error { return e.Err }

// genericError is any other transient failure: retried with the
// controller's exponential backoff.
type genericError struct {
	Reason string
	Err    error
}

func (e *genericError) Error() string { return e.Err.Error() }
func (e *genericError) Unwrap() error { return e.Err }

// reasonOf returns the condition reason an error carries ("" for nil).
func reasonOf(err error) string {
	var s *stallingError
	var w *waitingError
	var g *genericError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &s):
		return s.Reason
	case errors.As(err, &w):
		return w.Reason
	case errors.As(err, &g):
		return g.Reason
	}
	return "ReconcileFailed"
}

// result is the one place that turns a reconcile's outcome into a requeue.
// interval is the poll interval that notices branch merges and deletions.
func result(err error, interval time.Duration) (ctrl.Result, error) {
	var s *stallingError
	var w *waitingError
	switch {
	case err == nil:
		return ctrl.Result{RequeueAfter: interval}, nil
	case errors.As(err, &s):
		return ctrl.Result{RequeueAfter: interval}, nil
	case errors.As(err, &w):
		after := w.RequeueAfter
		if after <= 0 || after > interval {
			after = interval
		}
		return ctrl.Result{RequeueAfter: after}, nil
	}
	return ctrl.Result{}, err
}
