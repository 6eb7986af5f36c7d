package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent/source"
)

// phase is one named step of a pass. A phase that is not always run is
// skipped once an earlier such phase failed: nothing is built from a source
// that failed, nothing applied from a build that failed. The phases marked
// always run in any case: every binding's status says what happened to it,
// deleted bindings are released, and the control plane hears of it.
type phase struct {
	name   string
	always bool
	run    func(ctx context.Context, p *pass, res *Result) error
}

// phases lists a pass's steps, in order (docs/agent.md, "One pass").
func (a *Agent) phases() []phase {
	return []phase{
		{name: "finalizers", always: true, run: a.finalizersPhase},
		{name: "source", run: a.sourcePhase},
		{name: "build", run: a.buildPhase},
		{name: "apply", run: a.applyPhase},
		{name: "instance sync", always: true, run: a.instanceSyncPhase},
		{name: "release", always: true, run: a.releasePhase},
		{name: "status", always: true, run: a.statusPhase},
		{name: "report back", always: true, run: a.reportBackPhase},
	}
}

// Sync runs one pass. Its error says the pass failed somewhere (the source,
// the build, an apply, a status write); the caller retries sooner. Every
// binding's status says what happened to it either way.
func (a *Agent) Sync(ctx context.Context) (Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var res Result
	var bindings v1alpha1.APIServiceBindingList
	if err := a.client.List(ctx, &bindings); err != nil {
		return res, fmt.Errorf("list APIServiceBindings: %w", err)
	}
	p := newPass(a.opts, bindings.Items)
	var errs []error
	stopped := false
	for _, ph := range a.phases() {
		if stopped && !ph.always {
			continue
		}
		if err := ph.run(ctx, p, &res); err != nil {
			errs = append(errs, err)
			stopped = stopped || !ph.always
		}
	}
	res.Waiting = p.waiting
	return res, errors.Join(errs...)
}

// finalizersPhase puts the agent's finalizer on every live binding that
// lacks it. Always run.
func (a *Agent) finalizersPhase(ctx context.Context, p *pass, _ *Result) error {
	return a.ensureFinalizers(ctx, p.bindings)
}

// sourcePhase reads the head of the branch (a fetch only when it moved).
// On failure every live binding is SourceUnavailable, SignatureInvalid, or
// BuildFailed for a commit over the source's bounds.
func (a *Agent) sourcePhase(ctx context.Context, p *pass, res *Result) error {
	snap, fetched, err := a.src.Get(ctx)
	res.Fetched = fetched
	switch {
	case errors.Is(err, source.ErrSignatureInvalid):
		p.failAll(v1alpha1.SignatureInvalidReason, err.Error())
		return err
	case errors.Is(err, source.ErrTooLarge):
		// The commit's fault, as a build failure is: nothing applied.
		p.failAll(v1alpha1.BuildFailedReason, err.Error())
		return err
	case err != nil:
		p.failAll(v1alpha1.SourceUnavailableReason, err.Error())
		return err
	}
	res.Revision = snap.Revision
	p.rev = snap.Revision.String()
	p.snap = snap
	return nil
}

// buildPhase builds the folder of the snapshot (reused for an unmoved
// head). A failed build is BuildFailed on every live binding; an empty one
// is decided by emptyFolder, and leaves nothing to apply.
func (a *Agent) buildPhase(ctx context.Context, p *pass, _ *Result) error {
	kept, err := a.build(p.snap)
	if errors.Is(err, ErrEmptyBuild) {
		return a.emptyFolder(ctx, p, err)
	}
	if err != nil {
		p.failAll(v1alpha1.BuildFailedReason, err.Error())
		return err
	}
	p.kept = kept
	return nil
}

// applyBatch bounds how many objects of the build a pass decodes and
// applies at once: the decoded objects, not the build kept as JSON, are most
// of a pass's memory (a few hundred real CRDs are several MB of maps).
const applyBatch = 64

// applyPhase selects the bound CRDs of the build, applies them (after the
// rollback check) and orphans the managed CRDs the folder no longer holds.
// The build is decoded and applied applyBatch objects at a time; the agent
// applies CRDs only, and they do not depend on one another. Sets Refused,
// ForeignCRD, CRDNotEstablished, ApplyFailed, SchemaRollback, ExportNotFound.
func (a *Agent) applyPhase(ctx context.Context, p *pass, res *Result) error {
	if len(p.kept) == 0 {
		return nil // an empty folder: nothing to apply, nothing released
	}
	var applyErrs []error
	for start := 0; start < len(p.kept); start += applyBatch {
		objs, err := thawAll(p.kept[start:min(start+applyBatch, len(p.kept))])
		if err != nil {
			p.failAll(v1alpha1.BuildFailedReason, err.Error())
			return err
		}
		bound, refused := p.selectBound(objs)
		res.Refused = append(res.Refused, refused...)
		bound = a.checkRollbacks(ctx, p, p.snap, bound)
		applied, err := a.applier.Apply(ctx, bound)
		res.Applied.Add(applied)
		p.applied(bound, applied)
		applyErrs = append(applyErrs, err)
	}
	p.exportsNotFound()
	p.built = true
	a.recordRefusals(p.rev, res.Refused)

	orphaned, orphanErr := a.orphanUnexported(ctx, p, p.kept)
	res.Released.Add(orphaned)
	applyErr := errors.Join(applyErrs...)
	if applyErr != nil {
		applyErr = fmt.Errorf("apply %s: %w", p.snap.Revision, applyErr)
	}
	return errors.Join(applyErr, orphanErr)
}

// instanceSyncPhase tells the instance sync the APIs of the Ready bindings.
// Always run, but only a pass that built the folder knows which bindings
// are Ready: a failed fetch or build keeps syncing what was synced (nothing
// is ever released because a fetch or a build failed).
func (a *Agent) instanceSyncPhase(_ context.Context, p *pass, _ *Result) error {
	if a.opts.instanceMode() == instancesSynced && p.built {
		a.opts.Instances.Set(p.readyAPIs())
	}
	return nil
}

// releasePhase carries out the deletionPolicy of deleted bindings. Always
// run: a binding can go while git is away.
func (a *Agent) releasePhase(ctx context.Context, p *pass, res *Result) error {
	return a.releaseDeleted(ctx, p, res)
}

// statusPhase writes each binding's status where it changed. Always run.
func (a *Agent) statusPhase(ctx context.Context, p *pass, _ *Result) error {
	return a.writeStatus(ctx, p)
}

// reportBackPhase writes ConsumerInSync and the instance counts on the
// cluster's exports on the control plane. Always run (it says nothing for a
// pass that read no revision), and never fails the pass: a control plane
// that is away or a token that expired must not turn an applied pass into a
// failed one (and polling into retrying). The caller logs and counts
// Result.ReportErr; the next pass reports again.
func (a *Agent) reportBackPhase(ctx context.Context, p *pass, res *Result) error {
	if a.exports != nil {
		res.ReportErr = a.exports.writePass(ctx, p)
	}
	return nil
}
