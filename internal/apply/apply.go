package apply

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// Options configure an Applier.
type Options struct {
	// FieldManager is the server-side apply field manager: "bindsync-backend"
	// on the control plane, "bindsync-agent" in an app cluster. Required.
	FieldManager string
	// PruneSelector selects the labels every object bindsync applies must
	// carry (for example bindsync.io/managed=true plus
	// bindsync.io/cluster=<c>). Objects that do not match are never modified,
	// pruned or orphaned, whatever their name; desired objects that do not
	// match are refused. Required and not empty: an empty selector would match
	// everything.
	PruneSelector labels.Selector
	// WaitEstablished is how long Apply waits for the CRDs it applied to
	// become Established before it applies the rest (their instances). 0: no
	// wait, instances of a CRD created in the same call may then fail to map.
	WaitEstablished time.Duration
	// RememberUnchanged makes the Applier remember each object Apply found
	// equal to git (and, for a CRD, Established): a digest of the desired
	// object and the resourceVersion of the live object it compared with.
	// A later Apply of the same desired object reads the metadata of the
	// kind's live objects (one list per kind, with PruneSelector) and counts
	// the object unchanged, without its read and dry run, while that
	// resourceVersion has not moved: any change to the object, by hand or by
	// a controller, moves it, and then the object is compared in full. The
	// agent sets it: every pass applies the same few hundred CRDs.
	RememberUnchanged bool
	// ReleaseMarker, when its Key is set, is the annotation Orphan leaves on
	// what it releases, and what Apply takes back: an object that lacks
	// PruneSelector's labels but carries the marker with this Value was
	// released by this Applier's owner (the agent of one cluster), so Apply
	// adopts it again — labels and fields set as git says, the marker
	// removed — instead of refusing it as foreign (ErrForeign). The caller
	// checks, before it asks, that the update is one it may make.
	ReleaseMarker Marker
	// Adopt, when set, is asked about an existing object without bindsync's
	// labels that a desired object names: true takes it over (the apply
	// sets bindsync's labels and fields on it) instead of refusing it as
	// ErrForeign. The backend adopts a cluster's own namespace
	// bindsync-<cluster> when someone created it first; nothing else is
	// ever adopted.
	Adopt func(desired, live *unstructured.Unstructured) bool
}

// Marker is an annotation key and value.
type Marker struct{ Key, Value string }

// on reports whether o carries the marker.
func (m Marker) on(o *unstructured.Unstructured) bool {
	return m.Key != "" && o.GetAnnotations()[m.Key] == m.Value
}

// Validate checks the options.
func (o *Options) Validate() error {
	switch {
	case o.FieldManager == "":
		return errors.New("apply options: FieldManager is required")
	case o.PruneSelector == nil || o.PruneSelector.Empty():
		return errors.New("apply options: PruneSelector is required and must not be empty (it would match every object)")
	case o.WaitEstablished < 0:
		return fmt.Errorf("apply options: WaitEstablished %s is negative", o.WaitEstablished)
	}
	return nil
}

// Applier server-side applies object sets to one API server and prunes what
// a new set no longer holds. It is safe for concurrent use.
type Applier struct {
	opts   Options
	dyn    dynamic.Interface
	meta   metadata.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
	known  *memo // what Options.RememberUnchanged remembers
}

// Default client rate limits, used when the rest.Config sets none: client-go's
// own default (5 requests per second) would make a start-up apply of a
// thousand cluster folders take minutes.
const (
	defaultQPS   = 50
	defaultBurst = 100
)

// New returns an Applier for the API server of cfg. It maps kinds to
// resources through discovery, cached in memory and refreshed when a kind is
// not found and after Apply changes CRDs.
func New(cfg *rest.Config, o Options) (*Applier, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	if cfg.QPS == 0 {
		cfg.QPS = defaultQPS
	}
	if cfg.Burst == 0 {
		cfg.Burst = defaultBurst
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("apply: dynamic client: %w", err)
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("apply: discovery client: %w", err)
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("apply: metadata client: %w", err)
	}
	return &Applier{
		opts:   o,
		dyn:    dyn,
		meta:   meta,
		mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disco)),
		known:  newMemo(),
	}, nil
}

// WithPruneSelector returns an Applier sharing a's clients whose prune
// selector is a's plus sel's requirements, for one unit: the backend makes
// one Applier with bindsync.io/managed=true and narrows it per cluster with
// bindsync.io/cluster=<c>.
func (a *Applier) WithPruneSelector(sel labels.Selector) *Applier {
	b := *a
	if reqs, ok := sel.Requirements(); ok {
		b.opts.PruneSelector = a.opts.PruneSelector.Add(reqs...)
	}
	return &b
}

// PruneSelector returns the selector objects must match to be applied,
// pruned or orphaned.
func (a *Applier) PruneSelector() labels.Selector { return a.opts.PruneSelector }

// ResetMapper forgets the cached discovery, so kinds served since (new CRDs
// applied by someone else) are found. Apply does this itself after it
// creates or changes CRDs.
func (a *Applier) ResetMapper() { a.mapper.Reset() }

// Apply server-side applies objs as one unit, in dependency order:
//
//  1. Namespaces and CustomResourceDefinitions; then, when CRDs were created
//     or changed, the kind mapping is refreshed, and when
//     Options.WaitEstablished > 0 Apply waits for every CRD of the set to be
//     Established;
//  2. ServiceAccounts, ClusterRoles, ClusterRoleBindings, Roles,
//     RoleBindings, then everything else by group, kind, namespace and name.
//
// Each object is compared first: it is read, and when it exists a dry-run
// apply shows what applying would make of it; only when that differs from
// the live object (bindsync's fields differ from git, or bindsync no longer
// owns them, or a field git dropped would be removed) is it applied. An
// unchanged set therefore makes no write to the API server. Apply forces
// field ownership: git is the source of truth for every field bindsync sets,
// so a field changed by hand on an object bindsync manages is set back. It
// never touches an existing object without bindsync's labels (ErrForeign).
//
// A failure on one object does not stop the others, except those that depend
// on it: the objects in a Namespace that failed, and the instances of a CRD
// that failed or did not become Established (ErrDependency). The Result
// lists every object; the error joins the failures (Result.Err).
func (a *Applier) Apply(ctx context.Context, objs []*unstructured.Unstructured) (Result, error) {
	var res Result
	objs, dropped := a.dropInvalid(objs, &res)
	first, rest := Stages(objs)

	failedNamespaces := map[string]bool{}
	failedKinds := map[schema.GroupKind]string{} // kind -> CRD name
	for _, o := range dropped {
		if ref := RefOf(o); isNamespace(ref) {
			failedNamespaces[ref.Name] = true
		} else if isCRD(ref) {
			failedKinds[definedKind(o)] = ref.Name
		}
	}
	unchanged := a.stillUnchanged(ctx, objs)
	var crds []*unstructured.Unstructured
	crdsChanged := false
	for _, o := range first {
		ref := RefOf(o)
		if unchanged[ref.key()] {
			res.Unchanged = append(res.Unchanged, ref)
			continue // and, for a CRD, Established: it was when remembered
		}
		outcome, live, ok := a.applyOne(ctx, o, &res)
		switch {
		case !ok && isNamespace(ref):
			failedNamespaces[ref.Name] = true
		case !ok:
			failedKinds[definedKind(o)] = ref.Name
		case isCRD(ref) && outcome == outcomeUnchanged && isEstablished(live):
			// nothing to wait for
		case isCRD(ref):
			crds = append(crds, o)
			crdsChanged = crdsChanged || outcome != outcomeUnchanged
		}
	}
	if crdsChanged {
		a.mapper.Reset()
	}
	if a.opts.WaitEstablished > 0 && len(crds) > 0 {
		for _, o := range a.waitEstablished(ctx, crds, &res) {
			failedKinds[definedKind(o)] = o.GetName()
		}
	}

	for _, o := range rest {
		ref := RefOf(o)
		if ns := ref.Namespace; failedNamespaces[ns] {
			res.fail(ref, StepCheck, fmt.Errorf("%w: Namespace %s", ErrDependency, ns))
			continue
		}
		if crd, failed := failedKinds[schema.GroupKind{Group: ref.Group, Kind: ref.Kind}]; failed {
			res.fail(ref, StepCheck, fmt.Errorf("%w: CustomResourceDefinition %s", ErrDependency, crd))
			continue
		}
		if unchanged[ref.key()] {
			res.Unchanged = append(res.Unchanged, ref)
			continue
		}
		a.applyOne(ctx, o, &res)
	}
	return res, res.Err()
}

// dropInvalid records duplicates and objects without bindsync's labels as
// failures and returns the others, and the objects it dropped.
func (a *Applier) dropInvalid(objs []*unstructured.Unstructured, res *Result) (keep, dropped []*unstructured.Unstructured) {
	seen := map[objectKey]bool{}
	keep = make([]*unstructured.Unstructured, 0, len(objs))
	for _, o := range objs {
		ref := RefOf(o)
		switch {
		case seen[ref.key()]:
			// The first one is applied; a Namespace or CRD given twice
			// does not make its dependants fail.
			res.fail(ref, StepCheck, ErrDuplicate)
		case !a.opts.PruneSelector.Matches(labels.Set(o.GetLabels())):
			res.fail(ref, StepCheck, fmt.Errorf("%w (want %s)", ErrNotLabelled, a.opts.PruneSelector))
			dropped = append(dropped, o)
		default:
			seen[ref.key()] = true
			keep = append(keep, o)
		}
	}
	return keep, dropped
}

// definedKind returns the group and kind a CRD defines.
func definedKind(crd *unstructured.Unstructured) schema.GroupKind {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	return schema.GroupKind{Group: group, Kind: kind}
}

type outcome int

const (
	outcomeFailed outcome = iota
	outcomeCreated
	outcomeConfigured
	outcomeUnchanged
)

// conflictRetries bounds how often applyOne starts over when the object
// changed between its read and its write (a CRD's status is updated right
// after it is created, for example).
const conflictRetries = 3

// applyOne applies one object, records the outcome in res and reports
// whether it succeeded. For an unchanged object it also returns the live
// object it compared with.
func (a *Applier) applyOne(ctx context.Context, o *unstructured.Unstructured, res *Result) (outcome, *unstructured.Unstructured, bool) {
	ref := RefOf(o)
	var (
		out  outcome
		live *unstructured.Unstructured
		step Step
		err  error
	)
	for range conflictRetries {
		out, live, step, err = a.tryApply(ctx, o)
		if !apierrors.IsConflict(err) {
			break
		}
	}
	a.remember(o, out, live)
	switch out {
	case outcomeCreated:
		res.Created = append(res.Created, ref)
	case outcomeConfigured:
		res.Configured = append(res.Configured, ref)
	case outcomeUnchanged:
		res.Unchanged = append(res.Unchanged, ref)
	default:
		res.fail(ref, step, err)
		return out, nil, false
	}
	return out, live, true
}

// tryApply reads the object, refuses a foreign one, compares through a
// dry-run apply and applies when something differs. The write carries the
// resourceVersion that was read, so an object replaced in between (by
// someone else, without bindsync's labels) is not taken over: the API
// server answers Conflict and applyOne starts over.
func (a *Applier) tryApply(ctx context.Context, o *unstructured.Unstructured) (outcome, *unstructured.Unstructured, Step, error) {
	ri, err := a.resourceFor(RefOf(o))
	if err != nil {
		return outcomeFailed, nil, StepMap, err
	}
	live, err := ri.Get(ctx, o.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live = nil
	case err != nil:
		return outcomeFailed, nil, StepGet, err
	}
	opts := metav1.ApplyOptions{FieldManager: a.opts.FieldManager, Force: true}
	if live == nil {
		if _, err := ri.Apply(ctx, o.GetName(), o, opts); err != nil {
			return outcomeFailed, nil, StepApply, err
		}
		return outcomeCreated, nil, "", nil
	}
	released := false
	if !a.opts.PruneSelector.Matches(labels.Set(live.GetLabels())) {
		switch {
		case a.opts.ReleaseMarker.on(live):
			released = true
		case a.opts.Adopt != nil && a.opts.Adopt(o, live):
		default:
			return outcomeFailed, nil, StepCheck, ErrForeign
		}
	}
	if released {
		return a.adopt(ctx, ri, o, live, opts)
	}
	desired := o.DeepCopy()
	desired.SetResourceVersion(live.GetResourceVersion())
	dryOpts := opts
	dryOpts.DryRun = []string{metav1.DryRunAll}
	dry, err := ri.Apply(ctx, o.GetName(), desired, dryOpts)
	if err != nil {
		return outcomeFailed, nil, StepDryRun, err
	}
	if apiequality.Semantic.DeepEqual(live.Object, dry.Object) {
		return outcomeUnchanged, live, "", nil
	}
	if _, err := ri.Apply(ctx, o.GetName(), desired, opts); err != nil {
		return outcomeFailed, nil, StepApply, err
	}
	return outcomeConfigured, nil, "", nil
}

// adopt takes back an object this Applier's owner released (see
// Options.ReleaseMarker): it applies o at the resourceVersion it read, so an
// object replaced in between is not taken over, then drops the marker.
func (a *Applier) adopt(ctx context.Context, ri dynamic.ResourceInterface, o, live *unstructured.Unstructured, opts metav1.ApplyOptions) (outcome, *unstructured.Unstructured, Step, error) {
	desired := o.DeepCopy()
	desired.SetResourceVersion(live.GetResourceVersion())
	applied, err := ri.Apply(ctx, o.GetName(), desired, opts)
	if err != nil {
		return outcomeFailed, nil, StepApply, err
	}
	if _, marked := applied.GetAnnotations()[a.opts.ReleaseMarker.Key]; marked {
		patch, err := json.Marshal([]map[string]any{
			{"op": "test", "path": "/metadata/resourceVersion", "value": applied.GetResourceVersion()},
			{"op": "remove", "path": "/metadata/annotations/" + escapePointer(a.opts.ReleaseMarker.Key)},
		})
		if err != nil {
			return outcomeFailed, nil, StepApply, err
		}
		if _, err := ri.Patch(ctx, o.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: a.opts.FieldManager}); err != nil {
			return outcomeFailed, nil, StepApply, fmt.Errorf("adopted, but removing the release marker %s failed: %w", a.opts.ReleaseMarker.Key, err)
		}
	}
	return outcomeConfigured, nil, "", nil
}

// resourceFor maps ref's kind to its resource and checks its scope against
// the namespace it names.
func (a *Applier) resourceFor(ref ObjectRef) (dynamic.ResourceInterface, error) {
	m, err := a.mapping(ref.GroupVersionKind())
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if ref.Namespace == "" {
			return nil, fmt.Errorf("%s is namespaced, and the object names no namespace", m.Resource.GroupResource())
		}
		return a.dyn.Resource(m.Resource).Namespace(ref.Namespace), nil
	}
	if ref.Namespace != "" {
		return nil, fmt.Errorf("%s is cluster-scoped, and the object names namespace %q", m.Resource.GroupResource(), ref.Namespace)
	}
	return a.dyn.Resource(m.Resource), nil
}

// mapping finds the resource of gvk, refreshing discovery once when the
// cached answer does not know it.
func (a *Applier) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		a.mapper.Reset()
		m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// waitEstablished waits up to Options.WaitEstablished for every CRD to have
// NamesAccepted and Established true, records those that do not as failures
// (ErrNotEstablished, with their last conditions) and returns them.
func (a *Applier) waitEstablished(ctx context.Context, crds []*unstructured.Unstructured, res *Result) []*unstructured.Unstructured {
	pending := map[string]string{}
	for _, o := range crds {
		pending[o.GetName()] = "not read yet"
	}
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, a.opts.WaitEstablished, true, func(ctx context.Context) (bool, error) {
		for name := range pending {
			live, err := a.dyn.Resource(crdResource).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				pending[name] = err.Error()
				continue
			}
			if ok, why := established(live); ok {
				delete(pending, name)
			} else {
				pending[name] = why
			}
		}
		return len(pending) == 0, nil
	})
	var failed []*unstructured.Unstructured
	for _, o := range crds {
		if why, ok := pending[o.GetName()]; ok {
			res.fail(RefOf(o), StepEstablish, fmt.Errorf("%w after %s: %s", ErrNotEstablished, a.opts.WaitEstablished, why))
			failed = append(failed, o)
		}
	}
	if len(failed) > 0 {
		a.mapper.Reset()
	}
	return failed
}

// established reports whether a CRD is NamesAccepted and Established and,
// if not, its conditions that are not true.
func established(crd *unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	status := map[string]string{}
	var why []string
	for _, c := range conds {
		m, _ := c.(map[string]any)
		t, _ := m["type"].(string)
		s, _ := m["status"].(string)
		status[t] = s
		if s != "True" {
			why = append(why, fmt.Sprintf("%s=%s (%v: %v)", t, s, m["reason"], m["message"]))
		}
	}
	if status["NamesAccepted"] == "True" && status["Established"] == "True" {
		return true, ""
	}
	if len(why) == 0 {
		why = []string{"no Established condition yet"}
	}
	return false, strings.Join(why, ", ")
}
