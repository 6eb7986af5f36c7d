// Package agent implements `bindsync agent`: the app-cluster loop that pulls
// the state repository and applies the bound CRDs (see internal/agent).
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/cli/gitflags"
	"github.com/bindsync/bindsync/internal/cli/kube"
	"github.com/bindsync/bindsync/internal/cli/telemetry"
	"github.com/bindsync/bindsync/internal/git"
)

// flags of `bindsync agent`.
type flags struct {
	// flagSet tells which flags the user set (kube.DefaultAddr).
	flagSet                            *pflag.FlagSet
	kubeconfig, controlPlaneKubeconfig string
	cluster, repo, branch, path        string
	interval, retryInterval            time.Duration
	auth                               git.Auth
	verifyKeys                         []string
	webhookAddr, webhookSecretFile     string
	metricsAddr, probeAddr, pprofAddr  string
	leaderElect, syncInstances         bool
	leaderElectionNamespace            string
	leaseDuration, renewDeadline       time.Duration
	retryPeriod                        time.Duration
	waitEstablished                    time.Duration
	memoryLimit                        string
	log                                telemetry.LogFlags
}

// NewCommand returns the agent command.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd, _ := newCommand(stdout, stderr)
	return cmd
}

// newCommand returns the agent command and the flags it fills.
func newCommand(_, stderr io.Writer) (*cobra.Command, *flags) {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "agent --kubeconfig FILE --cluster NAME --repo URL [--control-plane-kubeconfig FILE]",
		Short: "Pull the state repository, apply the bound CRDs and sync their instances in this app cluster",
		Long: `Runs in an app cluster. Polls the state repository's branch (ls-remote; a fetch only when the
head moved), builds clusters/<cluster>/app with kustomize confined to that folder, applies the
CustomResourceDefinitions that have an APIServiceBinding, refuses and reports everything else, and
writes each binding's status. Credentials come from files only.

With --control-plane-kubeconfig (this cluster's ServiceAccount on the control plane, as
'bindsync cluster add' prints it) the agent also syncs the instances of every Ready binding:
each object goes up to a provider copy on the control plane, its status and claimed
Secrets/ConfigMaps come back (binding condition InstancesSynced), and it reports back
ConsumerInSync and the instance counts on the cluster's APIServiceExports. Without it nothing is
synced and every Ready binding says InstancesSynced=False NoControlPlane.
--sync-instances=false applies the CRDs only (no InstancesSynced condition).`,
		Example: `  bindsync agent --kubeconfig app.kubeconfig --cluster team-a --repo https://git.example.com/state.git \
    --git-username bindsync --git-password-file /secrets/git-token --interval 1m --control-plane-kubeconfig /secrets/cp/kubeconfig`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, f, stderr)
		},
	}
	fl := cmd.Flags()
	f.flagSet = fl
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig of the app cluster (default: $KUBECONFIG, then in-cluster)")
	fl.StringVar(&f.controlPlaneKubeconfig, "control-plane-kubeconfig", "", "kubeconfig of this cluster's ServiceAccount on the control plane, to sync instances and report back (optional)")
	fl.BoolVar(&f.syncInstances, "sync-instances", true, "sync the instances of bound APIs with the control plane (needs --control-plane-kubeconfig; false: apply the CRDs only)")
	fl.StringVar(&f.cluster, "cluster", "", "this app cluster's name in the state repository (required)")
	fl.StringVar(&f.repo, "repo", "", "URL of the state repository: file://, http(s):// or ssh:// (required)")
	fl.StringVar(&f.branch, "branch", "main", "branch to follow (the approved branch)")
	fl.StringVar(&f.path, "path", "", "folder to build (default clusters/<cluster>/app)")
	fl.DurationVar(&f.interval, "interval", time.Minute, "time between passes, spread by up to 10%")
	fl.DurationVar(&f.retryInterval, "retry-interval", 0, "time before the next pass after a failed one (default interval/2, at most 30s)")
	fl.DurationVar(&f.waitEstablished, "wait-established", 30*time.Second, "how long to wait for an applied CRD to be Established")
	gitflags.AddAuth(fl, &f.auth)
	gitflags.AddDeprecatedAuthAliases(fl, &f.auth)
	fl.StringSliceVar(&f.verifyKeys, "verify-keys", nil, "trusted key files, armored OpenPGP public keys or SSH public keys (authorized_keys form): when set, a head commit not signed by one of them is not applied (SignatureInvalid)")
	fl.StringVar(&f.webhookAddr, "webhook-bind-address", "", "address of the push-notification webhook, e.g. :9292 (off when empty)")
	fl.StringVar(&f.webhookSecretFile, "webhook-secret-file", "", "file holding the webhook's HMAC-SHA256 secret")
	fl.StringVar(&f.metricsAddr, "metrics-bind-address", ":8080", "address of /metrics (0 disables)")
	fl.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fl.StringVar(&f.pprofAddr, "pprof-bind-address", "", "address of Go's /debug/pprof profiles, e.g. 127.0.0.1:6060 (off when empty)")
	fl.StringVar(&f.memoryLimit, "memory-limit", "", "soft memory limit of the Go runtime, e.g. 48Mi: the collector works harder near it (0: none; default: GOMEMLIMIT if set, else 90% of the container's memory limit, if any)")
	fl.BoolVar(&f.leaderElect, "leader-elect", false, "elect a leader so two replicas never sync at once")
	fl.StringVar(&f.leaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election lease (default: the pod's)")
	fl.DurationVar(&f.leaseDuration, "leader-election-lease-duration", 15*time.Second, "how long a lease lasts without renewal: a leader that dies is replaced after at most this long")
	fl.DurationVar(&f.renewDeadline, "leader-election-renew-deadline", 10*time.Second, "how long the leader tries to renew before it gives up leading (less than the lease duration)")
	fl.DurationVar(&f.retryPeriod, "leader-election-retry-period", 2*time.Second, "how often candidates try to acquire or renew the lease")
	f.log.AddFlags(fl)
	return cmd, f
}

func run(ctx context.Context, f *flags, stderr io.Writer) error {
	if f.cluster == "" || f.repo == "" {
		return errors.New("agent: --cluster and --repo are required")
	}
	if f.leaderElect && (f.retryPeriod <= 0 || f.renewDeadline <= f.retryPeriod || f.leaseDuration <= f.renewDeadline) {
		return fmt.Errorf("agent: leader election needs 0 < --leader-election-retry-period (%s) < --leader-election-renew-deadline (%s) < --leader-election-lease-duration (%s)",
			f.retryPeriod, f.renewDeadline, f.leaseDuration)
	}
	log, err := f.log.Logger(stderr)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	ctrl.SetLogger(log)
	if err := telemetry.RegisterMetrics(metrics.Registry, telemetry.ComponentAgent, agent.Metrics()...); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	memLimit, err := setMemoryLimit(f.memoryLimit)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	opts, src, err := sourceFor(f)
	if err != nil {
		return err
	}
	if f.controlPlaneKubeconfig != "" {
		cp, err := kube.ReloadingConfig(f.controlPlaneKubeconfig)
		if err != nil {
			return fmt.Errorf("agent: --control-plane-kubeconfig: %w", err)
		}
		opts.ControlPlane = cp
	}
	kube.DefaultAddrs(f.flagSet, func(m string) { log.Info(m) }, map[string]*string{
		"metrics-bind-address": &f.metricsAddr, "health-probe-bind-address": &f.probeAddr})
	mgr, _, err := agent.NewManager(cfg, src, opts, agent.RunOptions{
		Interval: f.interval, RetryInterval: f.retryInterval,
		MetricsBindAddress: f.metricsAddr, HealthProbeBindAddress: f.probeAddr, PprofBindAddress: f.pprofAddr,
		LeaderElection: f.leaderElect, LeaderElectionNamespace: f.leaderElectionNamespace,
		LeaseDuration: f.leaseDuration, RenewDeadline: f.renewDeadline, RetryPeriod: f.retryPeriod,
		Webhook: agent.WebhookOptions{Addr: f.webhookAddr, SecretFile: f.webhookSecretFile, Branch: f.branch},
	})
	if err != nil {
		return err
	}
	log.Info("agent starting", "cluster", f.cluster, "repo", f.repo, "branch", f.branch, "path", opts.Path, "memoryLimit", memLimit,
		"instanceSync", instanceSync(opts))
	return mgr.Start(logr.NewContext(ctx, log))
}

// sourceFor builds the agent's options and source from the flags.
func sourceFor(f *flags) (agent.Options, *source.Source, error) {
	opts := agent.Options{Cluster: f.cluster, Path: f.path, WaitEstablished: f.waitEstablished, SyncInstances: f.syncInstances}
	if err := opts.Validate(); err != nil {
		return opts, nil, err
	}
	if err := gitflags.CheckAuth(f.flagSet, f.auth, f.repo); err != nil {
		return opts, nil, fmt.Errorf("agent: --repo: %w", err)
	}
	so := source.Options{URL: f.repo, Branch: f.branch, Dir: opts.Path, Auth: f.auth}
	if len(f.verifyKeys) > 0 {
		v, err := source.NewVerifier(f.verifyKeys...)
		if err != nil {
			return opts, nil, err
		}
		so.Verifier = v
	}
	src, err := source.New(so)
	return opts, src, err
}

// loadConfig reads --kubeconfig, else $KUBECONFIG and the default rules,
// else the in-cluster config. A token in --kubeconfig is read again when
// the file changes (kube.ReloadingConfig); the in-cluster token is a file
// client-go reads again.
func loadConfig(path string) (*rest.Config, error) {
	if path != "" {
		cfg, err := kube.ReloadingConfig(path)
		if err != nil {
			return nil, fmt.Errorf("agent: --kubeconfig: %w", err)
		}
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("agent: kubeconfig: %w", err)
	}
	return cfg, nil
}

// instanceSync says in the start-up log what the agent does with instances.
func instanceSync(o agent.Options) string {
	switch {
	case !o.SyncInstances:
		return "off (--sync-instances=false): CRDs only"
	case o.ControlPlane == nil:
		return "off: no --control-plane-kubeconfig (Ready bindings say InstancesSynced=False NoControlPlane)"
	}
	return "on"
}
