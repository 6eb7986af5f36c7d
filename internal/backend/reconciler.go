package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Defaults of Options.
const (
	DefaultBranch         = "main"
	DefaultInterval       = 30 * time.Second
	DefaultResyncInterval = 10 * time.Minute
	DefaultPushAttempts   = 5
	// DefaultApplyWorkers is what bindsync backend passes as ApplyWorkers.
	DefaultApplyWorkers = 8
	DefaultHistoryLimit = 1000
	// FieldManager is the field manager of the backend's applies.
	FieldManager = "bindsync-backend"
)

// Options configure a Reconciler.
type Options struct {
	// Client reads templates, clusters and requests (the manager's cache)
	// and writes status.
	Client client.Client
	// APIReader reads the referenced CRDs in full, uncached.
	APIReader client.Reader
	Repo      Repo
	Applier   Applier
	// Recorder writes Kubernetes events on requests and templates (nil: none).
	Recorder events.EventRecorder
	// Branch is the approved branch (main).
	Branch string
	// Interval is the poll interval: how soon a merge or a deleted branch
	// is noticed without any object changing.
	Interval time.Duration
	// ResyncInterval is how often every cluster folder is applied again,
	// whatever changed.
	ResyncInterval time.Duration
	// ApplyWorkers is how many cluster folders are applied at once (0: one
	// after another). Each object costs round trips to the API server, so a
	// start-up apply of a thousand folders one by one is bound by latency.
	ApplyWorkers int
	// PushAttempts bounds the fetch-render-push loop on a non-fast-forward.
	PushAttempts int
	// HistoryLimit bounds the history walked to find a request's bind commit.
	HistoryLimit int
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Init lets the backend create main when the remote has none although
	// one was known (its clone, a request's or an export's status names a
	// revision): a new history, chosen by an operator (bindsync backend
	// --init). Without it the backend stops with MainBranchLost.
	Init bool
}

// Validate fills defaults and checks the combination.
func (o *Options) Validate() error {
	if o.Client == nil || o.APIReader == nil || o.Repo == nil || o.Applier == nil {
		return errors.New("backend: Client, APIReader, Repo and Applier are required")
	}
	if o.Branch == "" {
		o.Branch = DefaultBranch
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.ResyncInterval <= 0 {
		o.ResyncInterval = DefaultResyncInterval
	}
	if o.ApplyWorkers <= 0 {
		o.ApplyWorkers = 1
	}
	if o.PushAttempts <= 0 {
		o.PushAttempts = DefaultPushAttempts
	}
	if o.HistoryLimit <= 0 {
		o.HistoryLimit = DefaultHistoryLimit
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Reconciler is the one global state reconcile.
type Reconciler struct {
	opts Options

	mu sync.Mutex
	// listing is held from listing the objects until fresh has looked at
	// them, so the watch cannot drop a written status in between (cached).
	listing sync.Mutex
	// applied is what the apply phase did so far (see apply).
	applied applyState
	// written holds the status this reconciler last wrote, by object UID,
	// until the cache has caught up with it (see fresh).
	written map[types.UID]writtenStatus
	// cache keeps what unchanged objects rendered to from one reconcile to
	// the next (render.Cache).
	cache *render.Cache
	// memo keeps, with cache, the index of main as the last plan left it
	// (plan.Memo).
	memo *plan.Memo
	// history caches the history walks of fetch for one head of main:
	// by request UID, the bind commit found ("" for none). A head's history
	// never changes, so every pending Manual request costs one walk per
	// move of main, not one per reconcile.
	history struct {
		head  plumbing.Hash
		found map[types.UID]string
	}
	// branchesChecked are the approval branches the last commit phase
	// found current, by name (branchCurrent).
	branchesChecked map[string]checkedBranch
	// keptSaid is why each instance namespace main no longer holds was
	// kept, as last logged (under keptLog): said once, not every reconcile.
	keptLog  sync.Mutex
	keptSaid map[string]string
}

// checkedBranch is an approval branch found to hold a plan's change: its
// head held exactly files in dirs, and changed nothing else since base.
// Commits never change, so while the branch's head and the planned change
// are these, only main's moves since base remain to be looked at.
type checkedBranch struct {
	head, base plumbing.Hash
	dirs       []string
	files      staterepo.Tree
}

// writtenStatus is the status a patch left on an object (a
// *APIServiceExportRequestStatus or *APIServiceExportTemplateStatus), the
// resourceVersion it was patched from and the one it was patched to.
type writtenStatus struct {
	from, to string
	status   any
}

// New returns a Reconciler.
func New(o Options) (*Reconciler, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &Reconciler{opts: o, cache: render.NewCache(), memo: plan.NewMemo()}, nil
}

// run is the state of one reconcile, passed from phase to phase.
type run struct {
	log      logr.Logger
	in       plan.Input
	requests []v1alpha1.APIServiceExportRequest
	tpls     []v1alpha1.APIServiceExportTemplate
	clusters []v1alpha1.AppCluster
	// namespaces are the APIServiceNamespaces (status written by report).
	namespaces []v1alpha1.APIServiceNamespace
	// mainHead is main's head when fetched; branches the bindsync/ heads.
	mainHead plumbing.Hash
	branches map[string]plumbing.Hash
	decided  plan.Decisions
	plan     plan.Plan
	// newMain and newBranches are the commits written, not yet pushed.
	newMain     plumbing.Hash
	newBranches map[string]plumbing.Hash
	// pushed is true once main is pushed: newMain is then main's head.
	pushed bool
	// pushedBranches are the bindsync/ branches this run moved, at their
	// new heads (deleted ones at ZeroHash); branchErrs those it could not.
	pushedBranches map[string]plumbing.Hash
	branchErrs     map[string]error
	// foreign are bindsync/ branches whose head the backend did not write
	// (staterepo.TrailerBranch): never rebuilt or deleted.
	foreign map[string]bool
	// moved caches mainMoved by base.
	moved map[plumbing.Hash][]string
	// applied is main's commit whose folders are now on the control plane,
	// except those of the clusters in clusterErrs.
	applied plumbing.Hash
	// clusterErrs are the clusters whose folder failed to apply, with why;
	// pruneErr is the prune of clusters that left main, when it failed.
	clusterErrs map[string]error
	pruneErr    error
	commits     int
	conflicts   int
}

// phase is one named step of the reconcile.
type phase struct {
	name string
	fn   func(ctx context.Context, r *run) error
}

// phases lists the reconcile's steps, in order. The loop stops at the first
// error; report runs in any case.
func (rc *Reconciler) phases() []phase {
	return []phase{
		{"fetch", rc.fetch},
		{"decide", rc.decide},
		{"render", rc.render},
		{"commit", rc.commit},
		{"push", rc.push},
		{"apply", rc.apply},
	}
}

// Reconcile runs every phase for the whole state. A push that loses a race
// with another writer starts again from fetch, up to PushAttempts times.
func (rc *Reconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	start := rc.opts.Now()
	log := ctrl.LoggerFrom(ctx).WithValues("branch", rc.opts.Branch)
	var r *run
	var err error
	for attempt := 1; ; attempt++ {
		r = &run{log: log}
		err = rc.runPhases(ctx, r)
		if !errors.Is(err, ErrNonFastForward) || attempt >= rc.opts.PushAttempts {
			break
		}
		metricPushRetries.Inc()
		log.Info("main moved while pushing; fetching and rendering again", "attempt", attempt)
	}
	if rerr := rc.report(ctx, r, err); rerr != nil && err == nil {
		err = &genericError{Reason: "StatusFailed", Err: rerr}
	}
	if err == nil {
		err = r.applyErr()
	}
	rc.memo.Recycle(r.plan) // nothing reads the plan after the report
	metricReconcileDuration.Observe(time.Since(start).Seconds())
	observeReconcile(err, rc.opts.Now())
	if err != nil {
		log.Error(err, "reconcile did not complete", "reason", reasonOf(err), "revision", rc.revision(r.head()))
	}
	return result(err, rc.opts.Interval)
}

func (rc *Reconciler) runPhases(ctx context.Context, r *run) error {
	for _, p := range rc.phases() {
		if err := p.fn(ctx, r); err != nil {
			if errors.Is(err, ErrNonFastForward) {
				return err
			}
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return nil
}

// applyErr is what failed in the apply phase (nil when nothing did): the
// failing clusters' folders, each already reported on that cluster's
// requests, and the prune of clusters that left main. It is returned from
// Reconcile so the failure is logged, counted and retried with backoff.
func (r *run) applyErr() error {
	if len(r.clusterErrs) == 0 && r.pruneErr == nil {
		return nil
	}
	return &genericError{Reason: v1alpha1.ApplyFailedReason, Err: errors.Join(clusterErr(r.clusterErrs), r.pruneErr)}
}

// head is main's head as far as this run knows it.
func (r *run) head() plumbing.Hash {
	if r == nil {
		return plumbing.ZeroHash
	}
	if r.pushed {
		return r.newMain
	}
	return r.mainHead
}

func (rc *Reconciler) revision(h plumbing.Hash) string {
	return revisionOf(rc.opts.Branch, h)
}

// revisionOf names commit h of branch as status and logs show it.
func revisionOf(branch string, h plumbing.Hash) string {
	return staterepo.Revision{Branch: branch, Hash: h}.String()
}
