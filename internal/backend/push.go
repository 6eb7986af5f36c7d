package backend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// push moves main (a compare-and-swap: a lost race starts the reconcile
// again), then, in one round trip, the approval and schema branches and the
// deletion of bindsync/ branches nothing waits on (approved, withdrawn,
// superseded). Branches are independent: a branch the remote refuses (or
// that moved) is recorded in branchErrs for its request's status and tried
// again on the next reconcile, and fails neither the others nor the apply.
// Only a branch that was pushed (or is on the remote) counts as existing.
func (rc *Reconciler) push(ctx context.Context, r *run) error {
	if r.newMain != r.mainHead {
		if err := rc.opts.Repo.Push(ctx, rc.opts.Branch, r.mainHead, r.newMain); err != nil {
			if errors.Is(err, ErrNonFastForward) {
				return err
			}
			return gitUnavailable(fmt.Errorf("push %s: %w", rc.opts.Branch, err))
		}
		metricPushes.Inc()
		metricCommits.Add(float64(len(r.plan.Steps)))
		if err := rc.opts.Repo.SetKnownHead(rc.opts.Branch, r.newMain); err != nil {
			r.log.Error(err, "could not record main's new head in the local repository")
		}
	}
	r.pushed = true
	r.pushedBranches, r.branchErrs = map[string]plumbing.Hash{}, map[string]error{}
	var moves []BranchMove
	for name, h := range r.newBranches {
		moves = append(moves, BranchMove{Branch: name, Old: r.branches[name], New: h})
	}
	for name, old := range r.branches {
		if _, rebuilt := r.newBranches[name]; !rebuilt && rc.stale(r, name) && !rc.isForeign(r, name) {
			moves = append(moves, BranchMove{Branch: name, Old: old})
		}
	}
	sort.Slice(moves, func(i, j int) bool { return moves[i].Branch < moves[j].Branch })
	if len(moves) == 0 {
		return nil
	}
	errs := rc.opts.Repo.PushBranches(ctx, moves)
	for i, m := range moves {
		if errs[i] != nil {
			r.branchErrs[m.Branch] = errs[i]
			r.log.Error(errs[i], "branch not pushed; the next reconcile tries again", "branchName", m.Branch)
			continue
		}
		r.pushedBranches[m.Branch] = m.New
		if m.New.IsZero() {
			r.log.Info("deleted branch nothing waits on", "branchName", m.Branch)
			continue
		}
		metricPushes.Inc()
		metricCommits.Inc()
		r.log.Info("pushed branch", "branchName", m.Branch, "commit", m.New.String())
	}
	return nil
}

// branchHead is the head of a bindsync/ branch in the repository as far as
// this run knows: the one it pushed, else the one it fetched.
func (r *run) branchHead(name string) (plumbing.Hash, bool) {
	if h, ok := r.pushedBranches[name]; ok {
		return h, !h.IsZero()
	}
	h, ok := r.branches[name]
	return h, ok
}

// isForeign: the bindsync/ branch exists and its head was not written by
// the backend for this branch (no Bindsync-Branch trailer naming it; a
// branch written before that trailer existed counts as the backend's when
// its head carries Bindsync-Base). Such a branch is someone's work: the
// backend neither rebuilds nor deletes it.
func (rc *Reconciler) isForeign(r *run, name string) bool {
	head, ok := r.branches[name]
	if !ok {
		return false
	}
	if f, ok := r.foreign[name]; ok {
		return f
	}
	foreign := true
	trailers, err := rc.opts.Repo.Trailers(head)
	if err == nil {
		m := staterepo.Message{Trailers: trailers}
		if names := m.Values(staterepo.TrailerBranch); len(names) > 0 {
			foreign = !slices.Contains(names, name)
		} else {
			foreign = len(m.Values(staterepo.TrailerBase)) == 0
		}
	}
	if r.foreign == nil {
		r.foreign = map[string]bool{}
	}
	r.foreign[name] = foreign
	return foreign
}

// stale: a bindsync/ branch no plan wants. An approval branch of a request
// that is still pending is never deleted (its deletion is a human's
// rejection).
func (rc *Reconciler) stale(r *run, name string) bool {
	for _, b := range r.plan.Branches {
		if b.Name == name {
			return false
		}
	}
	for _, d := range r.plan.Requests {
		if d.Approval == plan.Pending && staterepo.ApproveBranch(d.Cluster, d.Name) == name {
			return false
		}
	}
	return true
}
