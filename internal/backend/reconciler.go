package backend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	// history caches the history walks of decide for one head of main:
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
	return staterepo.Revision{Branch: rc.opts.Branch, Hash: h}.String()
}

// fetch reads the control plane's objects and the repository's heads.
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
	return nil
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

// readObjects lists templates, clusters and requests from the cache and
// reads every CRD a template references in full, uncached.
func (rc *Reconciler) readObjects(ctx context.Context, r *run) error {
	var tpls v1alpha1.APIServiceExportTemplateList
	var clusters v1alpha1.AppClusterList
	var reqs v1alpha1.APIServiceExportRequestList
	var nss v1alpha1.APIServiceNamespaceList
	rc.listing.Lock()
	for _, l := range []client.ObjectList{&tpls, &clusters, &reqs, &nss} {
		if err := rc.opts.Client.List(ctx, l); err != nil {
			rc.listing.Unlock()
			return fmt.Errorf("list %T: %w", l, err)
		}
	}
	fresh(rc, reqs.Items)
	fresh(rc, tpls.Items)
	fresh(rc, clusters.Items)
	fresh(rc, nss.Items)
	rc.listing.Unlock()
	rc.forgetGone(reqs.Items, tpls.Items, clusters.Items, nss.Items)
	r.tpls, r.requests, r.clusters, r.namespaces = tpls.Items, reqs.Items, clusters.Items, nss.Items
	r.in.Templates, r.in.Clusters, r.in.Requests = tpls.Items, clusters.Items, reqs.Items
	// an APIServiceNamespace being deleted asks for nothing any more: its
	// file leaves main (the API server deletes it once nothing holds it)
	r.in.Namespaces = make([]v1alpha1.APIServiceNamespace, 0, len(nss.Items))
	for _, n := range nss.Items {
		if n.DeletionTimestamp == nil {
			r.in.Namespaces = append(r.in.Namespaces, n)
		}
	}
	seen := map[string]bool{}
	for _, t := range tpls.Items {
		for _, res := range t.Spec.Resources {
			name := res.String()
			if seen[name] {
				continue
			}
			seen[name] = true
			var crd apiextensionsv1.CustomResourceDefinition
			err := rc.opts.APIReader.Get(ctx, types.NamespacedName{Name: name}, &crd)
			switch {
			case apierrors.IsNotFound(err):
				continue
			case err != nil:
				return fmt.Errorf("get CRD %s: %w", name, err)
			}
			r.in.CRDs = append(r.in.CRDs, crd)
		}
	}
	return nil
}

// fresh gives each cached object that is still the version this
// reconciler patched the status of the status the patch wrote. Right after
// a status write the cache often serves the object as it was before; taking
// that for the truth would record each transition's event twice and write
// the status twice.
func fresh[T any, P interface {
	*T
	client.Object
}](rc *Reconciler, items []T) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i := range items {
		o := P(&items[i])
		w, ok := rc.written[o.GetUID()]
		switch {
		case !ok:
		case o.GetResourceVersion() == w.from:
			setStatus(o, w.status)
			o.SetResourceVersion(w.to)
		default: // the cache has caught up, or someone else wrote since
			delete(rc.written, o.GetUID())
		}
	}
}

// setStatus copies a remembered status into o.
func setStatus(o client.Object, status any) {
	switch o := o.(type) {
	case *v1alpha1.APIServiceExportRequest:
		if st, ok := status.(*v1alpha1.APIServiceExportRequestStatus); ok {
			st.DeepCopyInto(&o.Status)
		}
	case *v1alpha1.APIServiceExportTemplate:
		if st, ok := status.(*v1alpha1.APIServiceExportTemplateStatus); ok {
			st.DeepCopyInto(&o.Status)
		}
	case *v1alpha1.AppCluster:
		if st, ok := status.(*v1alpha1.AppClusterStatus); ok {
			st.DeepCopyInto(&o.Status)
		}
	case *v1alpha1.APIServiceNamespace:
		if st, ok := status.(*v1alpha1.APIServiceNamespaceStatus); ok {
			st.DeepCopyInto(&o.Status)
		}
	}
}

// forgetGone drops what fresh remembers of objects no longer listed.
func (rc *Reconciler) forgetGone(reqs []v1alpha1.APIServiceExportRequest, tpls []v1alpha1.APIServiceExportTemplate, clusters []v1alpha1.AppCluster,
	nss []v1alpha1.APIServiceNamespace) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.written) == 0 {
		return
	}
	listed := make(map[types.UID]bool, len(reqs)+len(tpls)+len(clusters))
	for i := range reqs {
		listed[reqs[i].UID] = true
	}
	for i := range tpls {
		listed[tpls[i].UID] = true
	}
	for i := range clusters {
		listed[clusters[i].UID] = true
	}
	for i := range nss {
		listed[nss[i].UID] = true
	}
	for uid := range rc.written {
		if !listed[uid] {
			delete(rc.written, uid)
		}
	}
}

// wrote remembers the status patch of the object uid, from version from;
// written is the API server's answer (see patchStatus), of which only the
// status and version are kept.
func (rc *Reconciler) wrote(uid types.UID, from string, written client.Object) {
	var status any
	switch w := written.(type) {
	case *v1alpha1.APIServiceExportRequest:
		st := w.Status
		status = &st
	case *v1alpha1.APIServiceExportTemplate:
		st := w.Status
		status = &st
	case *v1alpha1.AppCluster:
		st := w.Status
		status = &st
	case *v1alpha1.APIServiceNamespace:
		st := w.Status
		status = &st
	default:
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.written == nil {
		rc.written = map[types.UID]writtenStatus{}
	}
	rc.written[uid] = writtenStatus{from: from, to: written.GetResourceVersion(), status: status}
}

// decide finds reverted bind commits of requests main does not hold and
// decides every approval and schema (plan.Decide). A revert it finds is
// recorded in main by the plan (staterepo.RevokedPath), so it lasts however
// long the history grows and whatever the request's UID; a revocation a
// human lifted (the file deleted) is not found again.
func (rc *Reconciler) decide(_ context.Context, r *run) error {
	r.in.Revoked = map[types.UID]string{}
	r.in.Cache, r.in.Memo = rc.cache, rc.memo
	if !r.mainHead.IsZero() {
		if rc.history.head != r.mainHead {
			rc.history.head, rc.history.found = r.mainHead, map[types.UID]string{}
		}
		for _, q := range plan.Unbound(r.in) {
			if c, ok := rc.history.found[q.UID]; ok {
				if c != "" {
					r.in.Revoked[q.UID] = c
				}
				continue
			}
			c, found, err := rc.opts.Repo.FindTrailer(r.mainHead, staterepo.TrailerRequestUID, string(q.UID), rc.opts.HistoryLimit)
			if err != nil {
				return gitUnavailable(err)
			}
			rc.history.found[q.UID] = ""
			if !found {
				continue
			}
			// the newest commit naming the request is the revoke commit
			// that recorded its revert: the revocation file it wrote is
			// gone from main, so a human lifted it
			_, lifted, err := rc.opts.Repo.FindTrailer(c, staterepo.TrailerCause, staterepo.CauseRevoke, 1)
			if err != nil {
				return gitUnavailable(err)
			}
			if !lifted {
				r.in.Revoked[q.UID] = c.String()
				rc.history.found[q.UID] = c.String()
			}
		}
	}
	r.decided = plan.Decide(r.in)
	return nil
}

// render renders main from approved inputs and each pending branch.
func (rc *Reconciler) render(_ context.Context, r *run) error {
	r.plan = r.decided.Render()
	for _, err := range r.plan.Errors() {
		r.log.Error(err, "main holds an export that does not decode; main keeps its files and its schema until it is fixed")
	}
	return nil
}

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
	if known && b.Dirs != nil && c.head == head && slices.Equal(c.dirs, b.Dirs) && plan.TreesEqual(c.files, b.Files) {
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
		return err == nil && plan.TreesEqual(tree, b.Tree)
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
