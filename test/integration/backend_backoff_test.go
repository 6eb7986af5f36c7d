package integration

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// failingCommits is a repository whose commits always fail, and which
// counts fetches (one per reconcile).
type failingCommits struct {
	backend.Repo
	fetches atomic.Int32
}

func (f *failingCommits) Fetch(ctx context.Context) error {
	f.fetches.Add(1)
	return f.Repo.Fetch(ctx)
}

func (f *failingCommits) Commit(plumbing.Hash, staterepo.Tree, []string, staterepo.Tree, staterepo.Message) (plumbing.Hash, bool, error) {
	return plumbing.ZeroHash, false, errors.New("disk full")
}

// TestIntegrationFailingReconcilesStillPollAtTheInterval runs the backend's
// controller in a manager, as bindsync backend does, with every commit
// failing: the retries back off, but never beyond --interval, so the
// repository is still polled (a merged approval noticed) while reconciles
// fail. controller-runtime's default backoff doubles up to 1000 s: about
// ten retries in the first five seconds, then minutes between them.
func TestIntegrationFailingReconcilesStillPollAtTheInterval(t *testing.T) {
	cp := startBackendControlPlane(t)
	remote := filepath.Join(t.TempDir(), "state.git")
	runGit(t, "", "init", "-q", "--bare", "-b", "main", remote)
	repo, err := git.Open(context.Background(), git.Options{URL: "file://" + remote, Dir: filepath.Join(t.TempDir(), "cache")})
	require.NoError(t, err)
	failing := &failingCommits{Repo: backend.GitRepo(repo)}
	applier, err := backend.ControlPlaneApplier(cp.Config)
	require.NoError(t, err)
	mgr, err := ctrl.NewManager(cp.Config, ctrl.Options{Scheme: testenv.Scheme(), Cache: backend.CacheOptions(),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	require.NoError(t, err)
	const interval = 300 * time.Millisecond
	rc, err := backend.New(backend.Options{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Repo: failing,
		Applier: applier, Interval: interval})
	require.NoError(t, err)
	require.NoError(t, rc.SetupWithManager(mgr))
	e := &backendEnv{t: t, cp: cp, remote: remote}
	e.create(&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "backoff"}})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})

	require.Eventually(t, func() bool { return failing.fetches.Load() > 0 }, 30*time.Second, 50*time.Millisecond, "the first reconcile")
	start := failing.fetches.Load()
	time.Sleep(5 * time.Second)
	retries := failing.fetches.Load() - start
	t.Logf("%d reconciles in 5 s after the first failure", retries)
	// Capped at 300 ms: 5+10+...+160 ms, then every 300 ms: about 20.
	assert.GreaterOrEqual(t, retries, int32(14), "a failing reconcile is retried at least every --interval")
}
