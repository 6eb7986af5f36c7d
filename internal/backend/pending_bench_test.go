package backend

import (
	"context"
	"fmt"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testutil/benchclock"
)

// benchPending is how many Manual requests wait on their approval branches
// in the pending benchmarks: one per cluster.
const benchPending = 1000

// pendingState is benchState with one pending Manual request per cluster,
// each on its pushed approval branch.
type pendingState struct {
	*benchState
	branches map[string]plumbing.Hash
}

func newPendingState(tb testing.TB) *pendingState {
	tb.Helper()
	s := &pendingState{benchState: newBenchState(tb, benchClusters, 1)}
	s.in.Templates[1].Spec.Approval = v1alpha1.ApprovalManual
	manual := s.in.Templates[1].Name
	for c := range benchPending {
		s.in.Requests = append(s.in.Requests, benchRequest(fmt.Sprintf("cluster-%04d", c), manual))
	}
	r := s.reconcile(tb, s.in)
	require.Len(tb, r.pushedBranches, benchPending, "every pending request got its branch")
	r = s.reconcile(tb, s.in)
	require.Empty(tb, r.pushedBranches, "nothing new pushes nothing")
	return s
}

// reconcile runs decide, render, commit and push (into the local
// repository) on in, then moves main and the branches as a fetch would see
// them.
func (s *pendingState) reconcile(tb testing.TB, in plan.Input) *run {
	tb.Helper()
	if s.last != nil {
		s.rc.memo.Recycle(s.last.plan)
	}
	r := &run{log: logr.Discard(), in: in, mainHead: s.head, branches: s.branches}
	s.last = r
	r.in.Branches = map[string]bool{}
	for b := range s.branches {
		r.in.Branches[b] = true
	}
	ctx := context.Background()
	for _, p := range []phase{{"history", fetchedHistory(s.rc)}, {"decide", s.rc.decide}, {"render", s.rc.render}, {"commit", s.rc.commit}, {"push", s.rc.push}} {
		require.NoError(tb, p.fn(ctx, r), p.name)
	}
	require.Empty(tb, r.branchErrs)
	var err error
	s.head = r.newMain
	s.branches, err = s.rc.opts.Repo.Branches(staterepo.BranchPrefix)
	require.NoError(tb, err)
	s.in.Main, err = s.rc.opts.Repo.Tree(s.head)
	require.NoError(tb, err)
	// the status report would record each request's branch revision
	return r
}

// BenchmarkBackendPendingMainMoves: 1000 clusters, each with one request
// bound on main and one Manual request pending on its approval branch; each
// op binds one new Automatic request in one cluster (main moves) and runs
// decide, render, commit and push. branch-pushes/op is how many approval
// branches that move of main rebuilt and pushed.
func BenchmarkBackendPendingMainMoves(b *testing.B) {
	s := newPendingState(b)
	auto := s.in.Templates[2].Name
	reqs := s.in.Requests
	var pushed int
	clk := benchclock.Start(b)
	for i := 0; i < b.N; i++ {
		clk.Stop()
		in := s.in
		reqs = append(reqs[:len(reqs):len(reqs)], benchRequest(fmt.Sprintf("cluster-%04d", (i*7+1)%benchClusters), auto))
		in.Requests = reqs
		clk.Resume()
		r := s.reconcile(b, in)
		clk.Stop()
		require.Equal(b, 1, len(r.plan.Steps), "one bind commit")
		for _, h := range r.pushedBranches {
			if !h.IsZero() {
				pushed++
			}
		}
		s.in.Requests = reqs
		clk.Resume()
	}
	clk.Report()
	b.ReportMetric(float64(pushed)/float64(b.N), "branch-pushes/op")
}

// BenchmarkBackendPendingNothingNew: the same state, a reconcile with
// nothing new (every poll interval).
func BenchmarkBackendPendingNothingNew(b *testing.B) {
	s := newPendingState(b)
	var pushed int
	clk := benchclock.Start(b)
	for i := 0; i < b.N; i++ {
		r := s.reconcile(b, s.in)
		pushed += len(r.pushedBranches)
	}
	clk.Report()
	b.ReportMetric(float64(pushed)/float64(b.N), "branch-pushes/op")
}
