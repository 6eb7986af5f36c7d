package backend

import (
	"context"
	"fmt"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// commit writes main's steps as a chain of commits on main's head, then
// every approval branch that is not already main's head plus its change.
// Each commit hashes and writes only the cluster folders its step changed
// (plan.Step.Dirs), so one new request costs one folder, not the repository.
func (rc *Reconciler) commit(_ context.Context, r *run) error {
	parent := r.mainHead
	for _, s := range r.plan.Steps {
		h, changed, err := rc.opts.Repo.Commit(parent, s.Tree, s.Dirs, s.Files, s.Message)
		if err != nil {
			return &genericError{Reason: v1alpha1.CommitFailedReason, Err: fmt.Errorf("commit %q: %w", s.Message.Subject, err)}
		}
		if changed {
			parent = h
			r.commits++
			r.log.Info("committed", "subject", s.Message.Subject, "commit", h.String())
		}
	}
	r.newMain = parent
	r.newBranches = map[string]plumbing.Hash{}
	checked := map[string]checkedBranch{}
	defer func() { rc.mu.Lock(); rc.branchesChecked = checked; rc.mu.Unlock() }()
	for _, b := range r.plan.Branches {
		if rc.isForeign(r, b.Name) {
			r.log.Info("leaving alone a branch bindsync did not write last", "branchName", b.Name)
			continue
		}
		if rc.branchCurrent(r, b, checked) {
			continue
		}
		msg := b.Message
		msg.Trailers = append(append([]staterepo.Trailer(nil), msg.Trailers...),
			staterepo.Trailer{Key: staterepo.TrailerBase, Value: r.newMain.String()}, staterepo.Trailer{Key: staterepo.TrailerBranch, Value: b.Name})
		h, _, err := rc.opts.Repo.Commit(r.newMain, b.Tree, b.Dirs, b.Files, msg)
		if err != nil {
			return &genericError{Reason: v1alpha1.CommitFailedReason, Err: fmt.Errorf("commit branch %s: %w", b.Name, err)}
		}
		r.newBranches[b.Name] = h
		r.commits++
	}
	return nil
}

// branchCurrent: the branch exists and needs no rebuild. That is the case
// when it holds the planned content in the folders the plan changes
// (b.Dirs: its cluster's folder) and main did not change those folders
// since the branch's base (Bindsync-Base): merged into main's new head it
// gives exactly the planned tree, without a conflict. So a move of main in
// other clusters' folders rebuilds and pushes no pending branch; one in the
// branch's own folder does. A branch whose change reaches outside the
// cluster folders (b.Dirs nil) is current only on main's new head with the
// planned tree. A branch found current in the commit phase before, with
// the same head and planned change, is not read again (checkedBranch); it
// is recorded in checked when current.
func (rc *Reconciler) branchCurrent(r *run, b plan.BranchPlan, checked map[string]checkedBranch) bool {
	head, ok := r.branches[b.Name]
	if !ok {
		return false
	}
	rc.mu.Lock()
	c, known := rc.branchesChecked[b.Name]
	rc.mu.Unlock()
	if known && b.Dirs != nil && c.head == head && slices.Equal(c.dirs, b.Dirs) && staterepo.TreesEqual(c.files, b.Files) {
		if c.base != r.newMain {
			moved, err := rc.mainMoved(r, c.base)
			if err != nil || overlaps(moved, b.Dirs) {
				return false
			}
		}
		checked[b.Name] = c
		return true
	}
	trailers, err := rc.opts.Repo.Trailers(head)
	if err != nil {
		return false
	}
	bases := staterepo.Message{Trailers: trailers}.Values(staterepo.TrailerBase)
	if len(bases) != 1 || !plumbing.IsHash(bases[0]) {
		return false
	}
	base := plumbing.NewHash(bases[0])
	if b.Dirs == nil {
		if base != r.newMain {
			return false
		}
		tree, err := rc.opts.Repo.Tree(head)
		return err == nil && staterepo.TreesEqual(tree, b.Tree)
	}
	if base != r.newMain {
		moved, err := rc.mainMoved(r, base)
		if err != nil || overlaps(moved, b.Dirs) {
			return false
		}
	}
	own, err := rc.opts.Repo.ChangedDirs(base, head, staterepo.ClustersDir)
	if err != nil || !subset(own, b.Dirs) {
		return false
	}
	ok, err = rc.opts.Repo.DirsMatch(head, b.Dirs, b.Files)
	if err != nil || !ok {
		return false
	}
	checked[b.Name] = checkedBranch{head: head, base: base, dirs: b.Dirs, files: b.Files}
	return true
}

// mainMoved lists the cluster folders that differ between base and main's
// new head, once per base and run (every pending branch of one base shares
// the answer). A base that is not in main's history (main was reset or
// force-pushed past it) counts as every folder moved: merging a branch on it
// would bring the dropped commits back, so the branch is rebuilt.
func (rc *Reconciler) mainMoved(r *run, base plumbing.Hash) ([]string, error) {
	if d, ok := r.moved[base]; ok {
		return d, nil
	}
	var d []string
	in, err := rc.opts.Repo.IsAncestor(base, r.newMain, rc.opts.HistoryLimit)
	if err != nil {
		return nil, err
	}
	if !in {
		d = []string{allFolders}
	} else if d, err = rc.opts.Repo.ChangedDirs(base, r.newMain, staterepo.ClustersDir); err != nil {
		return nil, err
	}
	if r.moved == nil {
		r.moved = map[plumbing.Hash][]string{}
	}
	r.moved[base] = d
	return d, nil
}

// allFolders in a mainMoved answer overlaps every folder.
const allFolders = "\x00all"

func overlaps(a, b []string) bool {
	for _, x := range a {
		if x == allFolders {
			return true
		}
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}
