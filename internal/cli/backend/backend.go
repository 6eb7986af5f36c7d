// Package backend implements `bindsync backend`: the control-plane half of
// bindsync. It runs internal/backend's reconciler in a controller-runtime
// manager (leader election, metrics, health probes) against a state
// repository opened with internal/git.
package backend

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	eventsv1client "k8s.io/client-go/kubernetes/typed/events/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/bindsync/bindsync/internal/backend"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/cli/gitflags"
	"github.com/bindsync/bindsync/internal/cli/kube"
	"github.com/bindsync/bindsync/internal/cli/telemetry"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/memlimit"
)

// flags are the command's options. Credentials are paths to files, never
// values: a flag's value shows in `ps` and in shell history.
type flags struct {
	// flagSet tells which flags the user set (kube.DefaultAddr).
	flagSet         *pflag.FlagSet
	kubeconfig      string
	repo            string
	branch          string
	dataDir         string
	auth            git.Auth
	authorName      string
	authorEmail     string
	signing         gitflags.Signing
	interval        time.Duration
	resync          time.Duration
	leaderElect     bool
	leaderNamespace string
	leaderID        string
	leaseDuration   time.Duration
	renewDeadline   time.Duration
	retryPeriod     time.Duration
	metricsAddr     string
	probeAddr       string
	pprofAddr       string
	memoryLimit     string
	init            bool
	log             telemetry.LogFlags
}

// NewCommand returns `bindsync backend`.
func NewCommand(_, stderr io.Writer) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "backend --kubeconfig FILE [--repo URL] [--branch main] [--data-dir DIR]",
		Short: "Turn binding requests and schema changes into commits, and apply what main approves to the control plane",
		Long: `backend watches AppClusters, APIServiceExportTemplates, APIServiceExportRequests
and the CRDs templates reference on the control plane, commits what is approved to
the state repository's main branch (and what waits for approval to bindsync/
branches), applies main's control-plane folders and writes request status.

Without --repo it keeps a bare repository in --data-dir, which agents on the same
machine read over file://.`,
		Example: `  bindsync backend --kubeconfig cp.kubeconfig --data-dir /var/lib/bindsync
  bindsync backend --kubeconfig cp.kubeconfig --repo https://git.example.com/platform/state.git \
      --git-username bindsync --git-password-file /etc/bindsync/git-password --data-dir /var/cache/bindsync`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), f, stderr)
		},
	}
	fl := cmd.Flags()
	f.flagSet = fl
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the control plane (default: $KUBECONFIG, then in-cluster)")
	fl.StringVar(&f.repo, "repo", "", "URL of the state repository (file://, http(s)://, ssh://); empty: a local bare repository in --data-dir")
	fl.StringVar(&f.branch, "branch", backend.DefaultBranch, "the approved branch")
	fl.StringVar(&f.dataDir, "data-dir", "", "folder for the local repository or the clone of --repo (default: with --repo, $XDG_CACHE_HOME/bindsync/<hash of the URL>, else $XDG_DATA_HOME/bindsync/state.git)")
	gitflags.AddAuth(fl, &f.auth)
	fl.StringVar(&f.authorName, "git-author-name", git.DefaultAuthorName, "author and committer name of bindsync's commits")
	fl.StringVar(&f.authorEmail, "git-author-email", git.DefaultAuthorEmail, "author and committer email of bindsync's commits")
	f.signing.Add(fl, "every commit")
	fl.DurationVar(&f.interval, "interval", backend.DefaultInterval, "how often to look for merged and deleted approval branches")
	fl.DurationVar(&f.resync, "resync-interval", backend.DefaultResyncInterval, "how often to apply every control-plane folder again")
	fl.BoolVar(&f.leaderElect, "leader-elect", true, "run only while holding the leader lease")
	fl.StringVar(&f.leaderNamespace, "leader-election-namespace", "bindsync-system", "namespace of the leader lease (created when missing; outside a cluster, when it cannot be, the backend runs without election and says so)")
	fl.StringVar(&f.leaderID, "leader-election-id", "bindsync-backend", "name of the leader lease")
	fl.DurationVar(&f.leaseDuration, "leader-election-lease-duration", 15*time.Second, "how long a lease lasts without renewal: a leader that dies is replaced after at most this long")
	fl.DurationVar(&f.renewDeadline, "leader-election-renew-deadline", 10*time.Second, "how long the leader tries to renew before it gives up leading (less than the lease duration)")
	fl.DurationVar(&f.retryPeriod, "leader-election-retry-period", 2*time.Second, "how often candidates try to acquire or renew the lease")
	fl.StringVar(&f.metricsAddr, "metrics-bind-address", ":8080", "address of the Prometheus metrics endpoint (0 to disable)")
	fl.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fl.StringVar(&f.memoryLimit, "memory-limit", memlimit.Auto, "soft limit of the Go runtime's memory, a quantity such as 400Mi: past it the garbage collector works harder instead of growing the heap (auto: $GOMEMLIMIT if set, else 170Mi or 80% of a smaller container memory limit; 0: none)")
	fl.BoolVar(&f.init, "init", false, "start a new history of --branch when the repository has none although one was known (MainBranchLost): after a deliberate reset only; remove the flag once the branch exists")
	fl.StringVar(&f.pprofAddr, "pprof-bind-address", "0", "address of Go's /debug/pprof/ profiles, for finding what uses memory or CPU (0: off; never expose it)")
	f.log.AddFlags(fl)
	return cmd
}

func run(ctx context.Context, f *flags, stderr io.Writer) error {
	gitOpts, err := f.gitOptions()
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	if f.leaderElect && (f.retryPeriod <= 0 || f.renewDeadline <= f.retryPeriod || f.leaseDuration <= f.renewDeadline) {
		return exitcode.New(exitcode.Unusable, fmt.Errorf("leader election needs 0 < --leader-election-retry-period (%s) < --leader-election-renew-deadline (%s) < --leader-election-lease-duration (%s)",
			f.retryPeriod, f.renewDeadline, f.leaseDuration))
	}
	_, memSource, err := memoryPolicy.Apply(f.memoryLimit)
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	log, err := f.log.Logger(stderr)
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	ctrl.SetLogger(log)
	if err := telemetry.RegisterMetrics(metrics.Registry, telemetry.ComponentBackend, backend.Metrics()...); err != nil {
		return err
	}
	if limit := debug.SetMemoryLimit(-1); limit < math.MaxInt64 {
		log.Info("soft memory limit", "bytes", limit, "from", memSource)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := restConfig(f.kubeconfig)
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	kube.DefaultAddrs(f.flagSet, func(m string) { log.Info(m) }, map[string]*string{
		"metrics-bind-address": &f.metricsAddr, "health-probe-bind-address": &f.probeAddr})
	leaderElect, err := f.prepareLeaderElection(ctx, cfg, log)
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	repo, err := git.Open(ctx, gitOpts)
	if err != nil {
		return exitcode.New(exitcode.Unusable, fmt.Errorf("--data-dir %s: open the state repository: %w", f.dataDir, err))
	}
	mgr, err := f.newManager(cfg, log, leaderElect)
	if err != nil {
		return err
	}
	if err := f.addReconciler(mgr, cfg, repo, log); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	log.Info("starting backend", "repo", git.RedactURL(f.repo), "dataDir", f.dataDir, "branch", f.branch)
	return mgr.Start(ctx)
}

// newManager makes the controller manager: leader election, metrics,
// probes and the backend's cache.
func (f *flags) newManager(cfg *rest.Config, log logr.Logger, leaderElect bool) (ctrl.Manager, error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  backend.Scheme(),
		Logger:                  log,
		LeaderElection:          leaderElect,
		LeaderElectionID:        f.leaderID,
		LeaderElectionNamespace: f.leaderNamespace,
		LeaseDuration:           &f.leaseDuration,
		RenewDeadline:           &f.renewDeadline,
		RetryPeriod:             &f.retryPeriod,
		// run returns as soon as the manager stops, so a leader that is
		// stopped (SIGTERM) can hand the lease over at once; one that dies
		// is replaced when the lease runs out.
		LeaderElectionReleaseOnCancel: true,
		Metrics:                       metricsserver.Options{BindAddress: f.metricsAddr},
		HealthProbeBindAddress:        f.probeAddr,
		PprofBindAddress:              f.pprofAddr,
		Cache:                         backend.CacheOptions(),
	})
	if err != nil {
		return nil, exitcode.New(exitcode.Unusable, fmt.Errorf("manager: %w", err))
	}
	return mgr, nil
}

// addReconciler adds the backend's reconciler to mgr, with its applier and
// its event sender.
func (f *flags) addReconciler(mgr ctrl.Manager, cfg *rest.Config, repo *git.Repo, log logr.Logger) error {
	applier, err := backend.ControlPlaneApplier(cfg)
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	evClient, err := eventsv1client.NewForConfigAndClient(cfg, mgr.GetHTTPClient())
	if err != nil {
		return exitcode.New(exitcode.Unusable, fmt.Errorf("events client: %w", err))
	}
	// Events go through a bounded queue, not the manager's broadcaster,
	// which keeps a goroutine and copies per event (docs/scale.md).
	recorder := backend.NewEventSender(evClient, mgr.GetScheme(),
		backend.EventSenderOptions{Controller: "bindsync-backend", Log: log.WithName("events")})
	if err := mgr.Add(recorder); err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	rc, err := backend.New(backend.Options{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Repo: backend.GitRepo(repo), Applier: applier,
		Recorder: recorder,
		Branch:   f.branch, Interval: f.interval, ResyncInterval: f.resync,
		ApplyWorkers: backend.DefaultApplyWorkers,
		Init:         f.init,
	})
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	if err := rc.SetupWithManager(mgr); err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	return nil
}

// gitOptions checks the flags that configure the state repository, before
// anything connects anywhere, and returns the repository's options. Every
// error names the flag and the problem.
func (f *flags) gitOptions() (git.Options, error) {
	if st, err := os.Stat(f.dataDir); err == nil && !st.IsDir() {
		return git.Options{}, fmt.Errorf("--data-dir %s is a file, not a folder", f.dataDir)
	}
	if given := f.auth.Given(); len(given) > 0 && f.repo == "" {
		return git.Options{}, fmt.Errorf("%s given without --repo: the local repository in --data-dir needs no credentials", strings.Join(given, ", "))
	}
	if f.repo != "" {
		u, err := url.Parse(f.repo)
		if err != nil || u.Scheme == "" {
			return git.Options{}, fmt.Errorf("--repo %q is not a URL (file://, http(s)://, ssh://)", git.RedactURL(f.repo))
		}
		if err := git.CheckURL(f.repo); err != nil {
			return git.Options{}, fmt.Errorf("--repo: %w", err)
		}
		if err := gitflags.CheckAuth(f.flagSet, f.auth, f.repo); err != nil {
			return git.Options{}, fmt.Errorf("--repo: %w", err)
		}
	}
	if f.dataDir == "" {
		dir, err := defaultDataDir(f.repo)
		if err != nil {
			return git.Options{}, err
		}
		f.dataDir = dir
	}
	o := git.Options{URL: f.repo, Dir: f.dataDir, AuthorName: f.authorName, AuthorEmail: f.authorEmail,
		Auth: f.auth}
	signer, err := f.signing.Signer()
	if err != nil {
		return git.Options{}, err
	}
	o.Signer = signer
	if err := o.Validate(); err != nil {
		return git.Options{}, fmt.Errorf("--repo and --git-* flags: %w", err)
	}
	return o, nil
}

// restConfig reads --kubeconfig, or else $KUBECONFIG, ~/.kube/config or the
// in-cluster configuration.
func restConfig(path string) (*rest.Config, error) {
	var cfg *rest.Config
	var err error
	if path != "" {
		// A token in the file is read again when the file changes.
		if cfg, err = kube.ReloadingConfig(path); err != nil {
			return nil, fmt.Errorf("--kubeconfig %s: %w", path, err)
		}
	} else if cfg, err = ctrl.GetConfig(); err != nil {
		return nil, fmt.Errorf("no kubeconfig: give --kubeconfig, set $KUBECONFIG, or run in a cluster: %w", err)
	}
	// A kubeconfig file sets no rate limit, and client-go's default is 5
	// requests per second: the status of 10,000 requests would take over
	// half an hour (docs/scale.md). Without --kubeconfig, controller-runtime
	// turns the client-side limit off and leaves it to the API server's
	// priority and fairness; --kubeconfig does the same. The backend's
	// writes are sequential, so round trips bound its rate.
	if cfg.QPS == 0 && cfg.Burst == 0 && cfg.RateLimiter == nil {
		cfg.QPS = -1
	}
	return cfg, nil
}
