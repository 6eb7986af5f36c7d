package backend

import (
	"context"

	"github.com/bindsync/bindsync/internal/backend/plan"
)

// decide decides every approval and schema (plan.Decide) from what fetch
// read, reverted bind commits included: it reads nothing itself.
func (rc *Reconciler) decide(_ context.Context, r *run) error {
	r.decided = plan.Decide(r.in)
	return nil
}

// render renders main from approved inputs and each pending branch.
func (rc *Reconciler) render(_ context.Context, r *run) error {
	r.plan = r.decided.Render()
	for _, err := range r.plan.Errors() {
		r.log.Error(err, "main holds an export that does not decode; main keeps its files and its schema until it is fixed")
	}
	return nil
}
