package backend

import (
	"context"

	"k8s.io/apimachinery/pkg/types"

	"github.com/bindsync/bindsync/internal/backend/plan"
)

// decide finds reverted bind commits of requests main does not hold and
// decides every approval and schema (plan.Decide). A revert it finds is
// recorded in main by the plan (render.RevokedPath), so it lasts however
// long the history grows and whatever the request's UID; a revocation a
// human lifted (the file deleted) is not found again.
func (rc *Reconciler) decide(_ context.Context, r *run) error {
	r.in.Revoked = map[types.UID]string{}
	r.in.Cache, r.in.Memo = rc.cache, rc.memo
	if !r.mainHead.IsZero() {
		if rc.history.head != r.mainHead {
			rc.history.head, rc.history.found = r.mainHead, map[types.UID]string{}
		}
		for _, q := range plan.Unbound(r.in) {
			if c, ok := rc.history.found[q.UID]; ok {
				if c != "" {
					r.in.Revoked[q.UID] = c
				}
				continue
			}
			c, found, err := rc.opts.Repo.FindTrailer(r.mainHead, plan.TrailerRequestUID, string(q.UID), rc.opts.HistoryLimit)
			if err != nil {
				return gitUnavailable(err)
			}
			rc.history.found[q.UID] = ""
			if !found {
				continue
			}
			// the newest commit naming the request is the revoke commit
			// that recorded its revert: the revocation file it wrote is
			// gone from main, so a human lifted it
			_, lifted, err := rc.opts.Repo.FindTrailer(c, plan.TrailerCause, plan.CauseRevoke, 1)
			if err != nil {
				return gitUnavailable(err)
			}
			if !lifted {
				r.in.Revoked[q.UID] = c.String()
				rc.history.found[q.UID] = c.String()
			}
		}
	}
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
