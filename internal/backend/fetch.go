package backend

import (
	"context"
	"fmt"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// fetch reads the control plane's objects, the repository's heads and
// main's tree, and finds in main's history the reverted bind commits of
// the requests main does not hold (findRevoked): everything decide needs.
// A failure here stops the run before anything is written or pruned.
func (rc *Reconciler) fetch(ctx context.Context, r *run) error {
	if err := rc.readObjects(ctx, r); err != nil {
		return &waitingError{Reason: v1alpha1.ControlPlaneUnavailableReason, Err: err, RequeueAfter: 5 * time.Second}
	}
	before, err := rc.opts.Repo.Head(rc.opts.Branch)
	if err != nil {
		return gitUnavailable(err)
	}
	if err := rc.opts.Repo.Fetch(ctx); err != nil {
		return gitUnavailable(err)
	}
	head, err := rc.opts.Repo.Head(rc.opts.Branch)
	if err != nil {
		return gitUnavailable(err)
	}
	if head.IsZero() {
		if err := rc.mainMissing(ctx, r, before); err != nil {
			return err
		}
	} else if err := rc.opts.Repo.SetKnownHead(rc.opts.Branch, head); err != nil {
		return &genericError{Reason: v1alpha1.CommitFailedReason, Err: err}
	}
	r.mainHead = head
	if r.branches, err = rc.opts.Repo.Branches(staterepo.BranchPrefix); err != nil {
		return gitUnavailable(err)
	}
	if r.in.Main, err = rc.opts.Repo.Tree(head); err != nil {
		return gitUnavailable(err)
	}
	r.in.Branches = map[string]bool{}
	for b := range r.branches {
		r.in.Branches[b] = true
	}
	r.log = r.log.WithValues("revision", rc.revision(head))
	r.in.Cache, r.in.Memo = rc.cache, rc.memo
	return rc.findRevoked(r)
}

// mainMissing decides what a remote without main means. On a fresh
// install it is the empty state: the first commit creates main. When the
// backend knew a main — its clone had one before this fetch or recorded one
// (KnownHead), or a request's status or an export names a revision — the
// remote lost it (branch deleted, repository re-created, a wrong URL after
// a migration). Writing a new root history then would drop approved Manual
// requests back to Pending, prune their exports and bind revoked requests
// again, so the run stops (stalling, MainBranchLost) until main is back or
// an operator chose a new history (Options.Init).
func (rc *Reconciler) mainMissing(ctx context.Context, r *run, before plumbing.Hash) error {
	evidence, err := rc.mainEvidence(ctx, r, before)
	if err != nil {
		return &waitingError{Reason: v1alpha1.ControlPlaneUnavailableReason, Err: err, RequeueAfter: 5 * time.Second}
	}
	if evidence == "" {
		return nil
	}
	if rc.opts.Init {
		r.log.Info("the state repository has no "+rc.opts.Branch+" although one was known; --init: starting a new history", "evidence", evidence)
		return nil
	}
	restore := ""
	if known, err := rc.opts.Repo.KnownHead(rc.opts.Branch); err == nil && !known.IsZero() {
		restore = fmt.Sprintf(" (the last known head %s is kept in the backend's --data-dir as refs/bindsync/known/%s)", known, rc.opts.Branch)
	}
	return &stallingError{Reason: v1alpha1.MainBranchLostReason, Err: fmt.Errorf(
		"the state repository has no branch %s, but %s: writing a new history would drop approvals and bind revoked requests again, so nothing is written, applied or pruned; "+
			"push %s back%s, or start the backend once with --init to begin a new history", rc.opts.Branch, evidence, rc.opts.Branch, restore)}
}

// mainEvidence says why the backend knows main existed ("" when nothing
// says so).
func (rc *Reconciler) mainEvidence(ctx context.Context, r *run, before plumbing.Hash) (string, error) {
	if !before.IsZero() {
		return fmt.Sprintf("its clone had it at %s", before), nil
	}
	if known, err := rc.opts.Repo.KnownHead(rc.opts.Branch); err == nil && !known.IsZero() {
		return fmt.Sprintf("its clone last saw it at %s", known), nil
	}
	for i := range r.requests {
		if q := &r.requests[i]; q.Status.Revision != "" {
			return fmt.Sprintf("request %s/%s names revision %s", q.Namespace, q.Name, q.Status.Revision), nil
		}
	}
	var exports v1alpha1.APIServiceExportList
	if err := rc.opts.APIReader.List(ctx, &exports, client.MatchingLabels{v1alpha1.ManagedLabel: "true"}); err != nil {
		return "", fmt.Errorf("list APIServiceExports: %w", err)
	}
	for _, x := range exports.Items {
		if x.Status.ConsumerRevision != "" {
			return fmt.Sprintf("APIServiceExport %s/%s names revision %s", x.Namespace, x.Name, x.Status.ConsumerRevision), nil
		}
	}
	return "", nil
}

func gitUnavailable(err error) error {
	return &waitingError{Reason: v1alpha1.GitUnavailableReason, Err: err, RequeueAfter: 5 * time.Second}
}
