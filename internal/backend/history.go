package backend

import (
	"k8s.io/apimachinery/pkg/types"

	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// findRevoked finds, in main's history, the reverted bind commits of the
// requests main does not hold (plan.Input.Revoked), so that decide reads
// nothing. A revert it finds is recorded in main by the plan
// (staterepo.RevokedPath), so it lasts however long the history grows and
// whatever the request's UID; a revocation a human lifted (the file
// deleted) is not found again. The walks are remembered per head of main
// (Reconciler.history).
func (rc *Reconciler) findRevoked(r *run) error {
	r.in.Revoked = map[types.UID]string{}
	if r.mainHead.IsZero() {
		return nil
	}
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
		c, found, err := rc.opts.Repo.FindTrailer(r.mainHead, staterepo.TrailerRequestUID, string(q.UID), rc.opts.HistoryLimit)
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
		_, lifted, err := rc.opts.Repo.FindTrailer(c, staterepo.TrailerCause, staterepo.CauseRevoke, 1)
		if err != nil {
			return gitUnavailable(err)
		}
		if !lifted {
			r.in.Revoked[q.UID] = c.String()
			rc.history.found[q.UID] = c.String()
		}
	}
	return nil
}
