package backend

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// An approval branch the commit phase found current is not read from git
// again while its head and its planned change stay the same
// (checkedBranch); this walks the cases where it must be rebuilt all the
// same, on a real repository, each as a reconcile that pushes.
func TestACheckedApprovalBranchIsRebuiltWhenItsHeadItsChangeOrItsFolderOnMainMoves(t *testing.T) {
	const clusters = 4
	s := &pendingState{benchState: newBenchState(t, clusters, 1)}
	manual, auto := s.in.Templates[1].Name, s.in.Templates[2].Name
	s.in.Templates[1].Spec.Approval = v1alpha1.ApprovalManual
	for c := range clusters {
		s.in.Requests = append(s.in.Requests, benchRequest(fmt.Sprintf("cluster-%04d", c), manual))
	}
	branch := func(c int) string { return staterepo.ApproveBranch(fmt.Sprintf("cluster-%04d", c), manual) }
	pushed := func(r *run) []string {
		var out []string
		for b := range r.pushedBranches {
			out = append(out, b)
		}
		sort.Strings(out)
		return out
	}
	all := []string{branch(0), branch(1), branch(2), branch(3)}

	require.Equal(t, all, pushed(s.reconcile(t, s.in)), "every pending request gets its branch")
	assert.Empty(t, pushed(s.reconcile(t, s.in)), "nothing new")
	assert.Empty(t, pushed(s.reconcile(t, s.in)), "nothing new, every branch checked before")

	// (reconcile leaves main's new tree in s.in.Main)
	s.in.Requests = append(append([]v1alpha1.APIServiceExportRequest(nil), s.in.Requests...), benchRequest("cluster-0001", auto))
	assert.Equal(t, []string{branch(1)}, pushed(s.reconcile(t, s.in)), "main moved in cluster-0001's folder only")
	assert.Empty(t, pushed(s.reconcile(t, s.in)), "nothing new after the move")

	s.in.Templates = append([]v1alpha1.APIServiceExportTemplate(nil), s.in.Templates...)
	tpl := s.in.Templates[1].DeepCopy()
	tpl.Spec.PermissionClaims[0].Verbs = append(tpl.Spec.PermissionClaims[0].Verbs, "create")
	s.in.Templates[1] = *tpl
	before := s.branches[branch(2)]
	assert.Equal(t, all, pushed(s.reconcile(t, s.in)), "the pending template changed: every branch's change did")
	assert.Empty(t, pushed(s.reconcile(t, s.in)), "nothing new after the template change")

	// someone moves a branch back to the commit before the template change
	ctx := context.Background()
	require.NoError(t, s.rc.opts.Repo.Push(ctx, branch(2), s.branches[branch(2)], before))
	var err error
	s.branches, err = s.rc.opts.Repo.Branches(staterepo.BranchPrefix)
	require.NoError(t, err)
	require.Equal(t, before, s.branches[branch(2)])
	r := s.reconcile(t, s.in)
	assert.Equal(t, []string{branch(2)}, pushed(r), "a branch moved back to an older change is rebuilt")
	assert.NotEqual(t, plumbing.ZeroHash, r.pushedBranches[branch(2)])

	// another writer rewrites main's history: the same tree on a new root
	// commit, so no branch's base is in main's history any more
	tree, err := s.rc.opts.Repo.Tree(s.head)
	require.NoError(t, err)
	root := commitFull(t, s.repo, plumbing.ZeroHash, tree, staterepo.Message{Subject: "history rewritten"})
	require.NoError(t, s.rc.opts.Repo.Push(ctx, DefaultBranch, s.head, root))
	s.head = root
	assert.Equal(t, all, pushed(s.reconcile(t, s.in)), "every branch is rebuilt on the rewritten main")
	assert.Empty(t, pushed(s.reconcile(t, s.in)), "nothing new after the rebuild")
}

// branchReads counts the reads of approval branches from git that
// branchCurrent makes.
type branchReads struct {
	Repo
	n int
}

func (b *branchReads) Trailers(c plumbing.Hash) ([]staterepo.Trailer, error) {
	b.n++
	return b.Repo.Trailers(c)
}

func (b *branchReads) DirsMatch(c plumbing.Hash, dirs []string, files staterepo.Tree) (bool, error) {
	b.n++
	return b.Repo.DirsMatch(c, dirs, files)
}

func (b *branchReads) ChangedDirs(old, new plumbing.Hash, prefix string) ([]string, error) {
	b.n++
	return b.Repo.ChangedDirs(old, new, prefix)
}

// A poll with nothing new costs nothing per pending request: no approval
// branch is rendered again (the plan carries the very files the plan
// before made) and none is read from git to find it current.
func TestAPollWithNothingNewRendersAndReadsNoPendingBranch(t *testing.T) {
	const clusters = 5
	s := &pendingState{benchState: newBenchState(t, clusters, 1)}
	s.in.Templates[1].Spec.Approval = v1alpha1.ApprovalManual
	for c := range clusters {
		s.in.Requests = append(s.in.Requests, benchRequest(fmt.Sprintf("cluster-%04d", c), s.in.Templates[1].Name))
	}
	require.Len(t, s.reconcile(t, s.in).pushedBranches, clusters)
	first := s.reconcile(t, s.in)
	reads := &branchReads{Repo: s.rc.opts.Repo}
	s.rc.opts.Repo = reads
	second := s.reconcile(t, s.in)

	require.Len(t, second.plan.Branches, clusters)
	for i, b := range second.plan.Branches {
		assert.Equal(t, reflect.ValueOf(first.plan.Branches[i].Files).Pointer(), reflect.ValueOf(b.Files).Pointer(),
			"branch %s: rendered again with nothing new", b.Name)
	}
	// isForeign reads each branch's trailers once per reconcile
	assert.Equal(t, clusters, reads.n, "git reads of approval branches with nothing new")
	assert.Empty(t, second.pushedBranches)
}
