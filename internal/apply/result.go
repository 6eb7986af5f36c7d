package apply

import (
	"errors"
	"fmt"
)

var (
	// ErrForeign marks an object that exists without bindsync's labels (it
	// does not match the prune selector). bindsync never modifies or deletes
	// such an object, even when git holds an object of the same name; the
	// agent reports it as ForeignCRD.
	ErrForeign = errors.New("exists and is not managed by bindsync (no bindsync labels)")
	// ErrNotLabelled marks a desired object that does not carry bindsync's
	// labels itself: applying it would create an object a later Prune could
	// not recognise as bindsync's, so it is refused.
	ErrNotLabelled = errors.New("does not carry bindsync's labels")
	// ErrDependency marks an object that was not applied because an object it
	// needs failed: its Namespace, or the CRD that defines its kind.
	ErrDependency = errors.New("not applied: an object it needs failed")
	// ErrNotEstablished marks a CRD that did not become Established within
	// Options.WaitEstablished; the agent reports it as CRDNotEstablished.
	ErrNotEstablished = errors.New("CRD not established")
	// ErrDuplicate marks a second object with the same kind, namespace and name
	// in one set.
	ErrDuplicate = errors.New("appears twice in the set")
)

// Step names what was being done to an object when it failed.
type Step string

// The steps of Apply and Prune.
const (
	StepDecode    Step = "decode"
	StepCheck     Step = "check"
	StepMap       Step = "map kind"
	StepGet       Step = "get"
	StepDryRun    Step = "dry-run apply"
	StepApply     Step = "apply"
	StepEstablish Step = "wait established"
	StepList      Step = "list"
	StepDelete    Step = "delete"
	StepOrphan    Step = "orphan"
)

// Failure is one object that could not be applied, pruned or orphaned. Its
// error reads "Role.rbac.authorization.k8s.io ns/name: dry-run apply: <cause>"
// and unwraps to the cause (ErrForeign, ErrDependency, an API status error...).
type Failure struct {
	Ref  ObjectRef
	Step Step
	Err  error
}

func (f *Failure) Error() string { return fmt.Sprintf("%s: %s: %v", f.Ref, f.Step, f.Err) }

func (f *Failure) Unwrap() error { return f.Err }

// Result is what one Apply or Prune did, object by object, each list in the
// order the objects were handled.
type Result struct {
	// Created objects did not exist and were applied.
	Created []ObjectRef
	// Configured objects existed and differed from git: they were applied
	// (this includes drift correction of fields changed by hand).
	Configured []ObjectRef
	// Unchanged objects existed and equalled git: nothing was written.
	Unchanged []ObjectRef
	// Deleted objects were pruned (the API server accepted the delete; a
	// Namespace may still be terminating).
	Deleted []ObjectRef
	// Orphaned objects were released: bindsync's labels and field ownership
	// dropped, the object kept.
	Orphaned []ObjectRef
	// Skipped objects were left alone on purpose: by Prune, an object that
	// is no longer bindsync's or a CustomResourceDefinition (never deleted by
	// Prune, see Orphan).
	Skipped []ObjectRef
	// Failed objects, with the step and the cause.
	Failed []*Failure
}

// Err joins the failures into one error, nil when there are none.
func (r *Result) Err() error {
	if len(r.Failed) == 0 {
		return nil
	}
	errs := make([]error, len(r.Failed))
	for i, f := range r.Failed {
		errs[i] = f
	}
	return errors.Join(errs...)
}

// Changed reports whether anything was written.
func (r *Result) Changed() bool {
	return len(r.Created)+len(r.Configured)+len(r.Deleted)+len(r.Orphaned) > 0
}

// Add appends other's lists to r, for callers that apply several units.
func (r *Result) Add(other Result) {
	r.Created = append(r.Created, other.Created...)
	r.Configured = append(r.Configured, other.Configured...)
	r.Unchanged = append(r.Unchanged, other.Unchanged...)
	r.Deleted = append(r.Deleted, other.Deleted...)
	r.Orphaned = append(r.Orphaned, other.Orphaned...)
	r.Skipped = append(r.Skipped, other.Skipped...)
	r.Failed = append(r.Failed, other.Failed...)
}

func (r *Result) fail(ref ObjectRef, step Step, err error) {
	r.Failed = append(r.Failed, &Failure{Ref: ref, Step: step, Err: err})
}
