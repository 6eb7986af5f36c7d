package backend

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/testenv"
	"github.com/bindsync/bindsync/internal/testutil/benchclock"
	"github.com/bindsync/bindsync/internal/testutil/scalefixture"
)

// The benchmarks below run the backend's own phases between fetch and push
// (decide, render, commit: plan.Decide, Decisions.Render and the commit
// phase writing through internal/git into a local bare repository) at 1000
// app clusters each binding the real Klutch CRDs, one template per CRD.
// The Kubernetes API is not involved: the input the fetch phase would list
// is built here, and main's tree is read from git once, as fetch reads it.
// The render cache is warm, as after the backend's previous reconcile.

const (
	benchClusters = 1000
	benchBindings = 10
)

// benchState is a repository whose main holds benchClusters clusters each
// binding all but the last template, the reconciler that wrote it (its
// render cache warm) and the input it was planned from.
type benchState struct {
	repo *git.Repo
	rc   *Reconciler
	head plumbing.Hash
	in   plan.Input
	last *run // the last run, recycled by the next
}

// benchRequest is cluster's request of template, as the API server holds it.
var benchRequest = scalefixture.Request

func newBenchState(tb testing.TB, clusters, bindings int) *benchState {
	tb.Helper()
	fx := scalefixture.Input(tb, 0, benchBindings)
	var in plan.Input
	in.CRDs, in.Templates = fx.CRDs[:benchBindings], fx.Templates
	for i := range in.CRDs { // as the API server serves them
		in.CRDs[i].UID = types.UID("uid-" + in.CRDs[i].Name)
		in.CRDs[i].ResourceVersion = "1"
	}
	for c := range clusters {
		name := scalefixture.ClusterName(c)
		in.Clusters = append(in.Clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: name}})
		for _, t := range in.Templates[:bindings] {
			in.Requests = append(in.Requests, benchRequest(name, t.Name))
		}
	}
	repo, err := git.Open(context.Background(), git.Options{Dir: filepath.Join(tb.TempDir(), "state.git"),
		Now: func() time.Time { return time.Unix(1e9, 0) }})
	require.NoError(tb, err)
	c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).Build()
	rc, err := New(Options{Client: c, APIReader: c, Repo: GitRepo(repo), Applier: &fakeApplier{}})
	require.NoError(tb, err)
	s := &benchState{repo: repo, rc: rc, in: in}
	// the first reconcile: every cluster in one batch
	r := s.run(tb, s.in)
	require.NoError(tb, rc.opts.Repo.Push(context.Background(), DefaultBranch, plumbing.ZeroHash, r.newMain))
	s.head = r.newMain
	s.in.Main, err = rc.opts.Repo.Tree(s.head)
	require.NoError(tb, err)
	// a reconcile with nothing new, as the backend's last one was
	r = s.run(tb, s.in)
	require.Zero(tb, r.commits, "nothing new commits nothing")
	return s
}

// fetchedHistory is the end of the fetch phase, for runs that build its
// input themselves: the reconciler's cache and memo, and the reverted bind
// commits found in main's history.
func fetchedHistory(rc *Reconciler) func(context.Context, *run) error {
	return func(_ context.Context, r *run) error {
		r.in.Cache, r.in.Memo = rc.cache, rc.memo
		return rc.findRevoked(r)
	}
}

// run runs the phases between fetch and push on in, with main at s.head
// (and the end of fetch: fetchedHistory).
func (s *benchState) run(tb testing.TB, in plan.Input) *run {
	tb.Helper()
	if s.last != nil { // done with, as Reconcile is after its report
		s.rc.memo.Recycle(s.last.plan)
	}
	r := &run{log: logr.Discard(), in: in, mainHead: s.head, branches: map[string]plumbing.Hash{}}
	s.last = r
	r.in.Branches = map[string]bool{}
	ctx := context.Background()
	for _, p := range []phase{{"history", fetchedHistory(s.rc)}, {"decide", s.rc.decide}, {"render", s.rc.render}, {"commit", s.rc.commit}} {
		require.NoError(tb, p.fn(ctx, r), p.name)
	}
	return r
}

// BenchmarkBackendNewRequest is one new Automatic request on a repository
// whose main holds 1000 clusters x 9 bindings: the backend's decide, render
// and commit phases, as one reconcile runs them after fetch. Target: under
// 30 ms. objects is what git wrote (blobs, trees, the commit).
func BenchmarkBackendNewRequest(b *testing.B) {
	s := newBenchState(b, benchClusters, benchBindings-1)
	reqs := append(make([]v1alpha1.APIServiceExportRequest, 0, len(s.in.Requests)+1), s.in.Requests...)
	last := s.in.Templates[benchBindings-1].Name
	var objects int64
	clk := benchclock.Start(b)
	for i := 0; i < b.N; i++ {
		clk.Stop()
		in := s.in
		in.Requests = append(reqs[:len(reqs):len(reqs)+1], benchRequest(fmt.Sprintf("cluster-%04d", i%benchClusters), last))
		before := s.repo.Stats()
		clk.Resume()
		r := s.run(b, in)
		clk.Stop()
		require.Equal(b, 1, r.commits, "one bind commit")
		require.Equal(b, "bind: "+fmt.Sprintf("cluster-%04d", i%benchClusters)+" <- "+last, r.plan.Steps[0].Message.Subject)
		objects += s.repo.Stats().ObjectsWritten - before.ObjectsWritten
		clk.Resume()
	}
	clk.Report()
	b.ReportMetric(float64(objects)/float64(b.N), "objects/op")
}

// BenchmarkBackendNothingNew is a reconcile with nothing new at the same
// scale: what every poll interval costs between fetch and push. It writes
// no object.
func BenchmarkBackendNothingNew(b *testing.B) {
	s := newBenchState(b, benchClusters, benchBindings-1)
	before := s.repo.Stats().ObjectsWritten
	clk := benchclock.Start(b)
	for i := 0; i < b.N; i++ {
		if r := s.run(b, s.in); r.commits != 0 {
			b.Fatalf("nothing new made %d commits", r.commits)
		}
	}
	clk.Report()
	b.ReportMetric(float64(s.repo.Stats().ObjectsWritten-before)/float64(b.N), "objects/op")
}

// BenchmarkBackendReadMain is the fetch phase's read of main's tree at the
// same scale from git (Repo.Tree of a head this process did not write: the
// first reconcile after a start, or after another writer moved main).
func BenchmarkBackendReadMain(b *testing.B) {
	s := newBenchState(b, benchClusters, benchBindings-1)
	clk := benchclock.Start(b)
	for i := 0; i < b.N; i++ {
		_, err := s.repo.Tree(s.head)
		require.NoError(b, err)
	}
	clk.Report()
}
