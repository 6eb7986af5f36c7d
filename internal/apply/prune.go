package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
)

// Prune deletes the objects of scope (the inventory of what an earlier
// revision applied for this unit) that keep (the unit's new set) no longer
// holds. It deletes only objects that carry bindsync's labels (match the
// prune selector); any other object is left alone and listed as Skipped,
// whatever its name. CustomResourceDefinitions are never deleted here
// (deleting one deletes every instance): they are Skipped, and the agent
// releases them with Orphan.
//
// Objects are deleted in the reverse of the apply order: namespaced objects
// first, then RBAC and ServiceAccounts, Namespaces last. Deleting a
// Namespace deletes everything in it, bindsync's or not; bindsync prunes a
// Namespace only when it carries bindsync's labels, that is when bindsync
// created it for the unit.
func (a *Applier) Prune(ctx context.Context, scope Inventory, keep []*unstructured.Unstructured) (Result, error) {
	kept := keySet(keep)
	var refs []ObjectRef
	for _, e := range scope.Entries {
		if !kept[e.key()] {
			refs = append(refs, e)
		}
	}
	pruneOrder(refs)
	var res Result
	for _, ref := range refs {
		a.pruneOne(ctx, ref, &res)
	}
	return res, res.Err()
}

// PruneByLabels deletes every object of the given kinds, in every
// namespace, that matches both the prune selector and selector and that
// keep does not hold. It needs no inventory: the backend uses it on
// start-up, on a slow resync and for a cluster folder that vanished from
// git (selector bindsync.io/cluster=<c>, keep nil). Kinds the API server
// does not serve are skipped. Same rules and order as Prune.
func (a *Applier) PruneByLabels(ctx context.Context, selector labels.Selector, kinds []schema.GroupVersionKind, keep []*unstructured.Unstructured) (Result, error) {
	sel := a.opts.PruneSelector
	if selector != nil {
		if reqs, ok := selector.Requirements(); ok {
			sel = sel.Add(reqs...)
		}
	}
	kept := keySet(keep)
	var res Result
	var refs []ObjectRef
	for _, gvk := range kinds {
		m, err := a.mapping(gvk)
		if meta.IsNoMatchError(err) {
			continue // not served: nothing of that kind exists
		}
		ref := ObjectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind}
		if err != nil {
			res.fail(ref, StepMap, err)
			continue
		}
		list, err := a.dyn.Resource(m.Resource).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			res.fail(ref, StepList, fmt.Errorf("%s with %s: %w", m.Resource.GroupResource(), sel, err))
			continue
		}
		for i := range list.Items {
			o := &list.Items[i]
			o.SetGroupVersionKind(gvk)
			if r := RefOf(o); !kept[r.key()] {
				refs = append(refs, r)
			}
		}
	}
	pruneOrder(refs)
	for _, ref := range refs {
		a.pruneOne(ctx, ref, &res)
	}
	return res, res.Err()
}

// pruneOne deletes one object if it is bindsync's, with its UID and
// resourceVersion as preconditions, so an object replaced or relabelled
// since it was read is not deleted.
func (a *Applier) pruneOne(ctx context.Context, ref ObjectRef, res *Result) {
	if isCRD(ref) {
		res.Skipped = append(res.Skipped, ref)
		return
	}
	ri, live, ok := a.liveManaged(ctx, ref, res, true)
	if !ok {
		return
	}
	if live.GetDeletionTimestamp() != nil {
		return // already being deleted
	}
	uid, rv := live.GetUID(), live.GetResourceVersion()
	policy := metav1.DeletePropagationBackground
	err := ri.Delete(ctx, ref.Name, metav1.DeleteOptions{
		Preconditions:     &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
		PropagationPolicy: &policy,
	})
	switch {
	case err == nil:
		res.Deleted = append(res.Deleted, ref)
	case apierrors.IsNotFound(err):
	default:
		res.fail(ref, StepDelete, err)
	}
}

// Orphan releases objects from bindsync without deleting them: it removes
// bindsync's labels (the keys the prune selector requires with = or in) and
// the field manager's entry from metadata.managedFields, so the object
// stays, no later Prune or Apply of bindsync's touches it, and no field is
// owned by bindsync any more. The agent uses it when an export leaves git
// and the binding's deletion policy is Orphan. Objects that are gone or not
// bindsync's are left alone (not found: nothing; foreign: Skipped).
func (a *Applier) Orphan(ctx context.Context, refs []ObjectRef) (Result, error) {
	var res Result
	for _, ref := range refs {
		a.orphanOne(ctx, ref, &res)
	}
	return res, res.Err()
}

func (a *Applier) orphanOne(ctx context.Context, ref ObjectRef, res *Result) {
	ri, live, ok := a.liveManaged(ctx, ref, res, false)
	if !ok {
		return
	}
	patch, err := a.orphanPatch(live)
	if err != nil {
		res.fail(ref, StepOrphan, err)
		return
	}
	// The release marker is written under a manager of its own: the field
	// manager itself owns nothing of a released object.
	if _, err := ri.Patch(ctx, ref.Name, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: a.releaseManager()}); err != nil {
		res.fail(ref, StepOrphan, err)
		return
	}
	res.Orphaned = append(res.Orphaned, ref)
}

// liveManaged reads the live object of ref for Prune and Orphan. ok is false
// when there is nothing to do: the object is gone (or, with goneKindOK, its
// kind is), it is not bindsync's (Skipped), or reading it failed (Failed).
func (a *Applier) liveManaged(ctx context.Context, ref ObjectRef, res *Result, goneKindOK bool) (dynamic.ResourceInterface, *unstructured.Unstructured, bool) {
	ri, err := a.resourceFor(ref)
	if goneKindOK && meta.IsNoMatchError(err) {
		return nil, nil, false // the kind is gone, and its objects with it
	}
	if err != nil {
		res.fail(ref, StepMap, err)
		return nil, nil, false
	}
	live, err := ri.Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil, false
	case err != nil:
		res.fail(ref, StepGet, err)
		return nil, nil, false
	}
	if !a.opts.PruneSelector.Matches(labels.Set(live.GetLabels())) {
		res.Skipped = append(res.Skipped, ref)
		return nil, nil, false
	}
	return ri, live, true
}

// orphanPatch is a JSON patch that, if the object is still at the version
// read, drops bindsync's labels and the field manager's managedFields
// entries, and leaves Options.ReleaseMarker. An empty managedFields list
// would be ignored by the API server, so when nothing else is left the list
// is replaced by one empty entry, which clears it.
func (a *Applier) orphanPatch(live *unstructured.Unstructured) ([]byte, error) {
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value,omitempty"`
	}
	ops := []op{{Op: "test", Path: "/metadata/resourceVersion", Value: live.GetResourceVersion()}}
	reqs, _ := a.opts.PruneSelector.Requirements()
	current := live.GetLabels()
	for _, r := range reqs {
		if r.Operator() != selection.Equals && r.Operator() != selection.DoubleEquals && r.Operator() != selection.In {
			continue
		}
		if _, ok := current[r.Key()]; ok {
			ops = append(ops, op{Op: "remove", Path: "/metadata/labels/" + escapePointer(r.Key())})
		}
	}
	var keepFields []metav1.ManagedFieldsEntry
	for _, e := range live.GetManagedFields() {
		if e.Manager != a.opts.FieldManager {
			keepFields = append(keepFields, e)
		}
	}
	if len(keepFields) == 0 {
		keepFields = []metav1.ManagedFieldsEntry{{}}
	}
	ops = append(ops, op{Op: "replace", Path: "/metadata/managedFields", Value: keepFields})
	if m := a.opts.ReleaseMarker; m.Key != "" {
		if live.GetAnnotations() == nil {
			ops = append(ops, op{Op: "add", Path: "/metadata/annotations", Value: map[string]string{m.Key: m.Value}})
		} else {
			ops = append(ops, op{Op: "add", Path: "/metadata/annotations/" + escapePointer(m.Key), Value: m.Value})
		}
	}
	return json.Marshal(ops)
}

// releaseManager is the field manager of Orphan's patch.
func (a *Applier) releaseManager() string {
	if a.opts.ReleaseMarker.Key == "" {
		return a.opts.FieldManager
	}
	return a.opts.FieldManager + "-release"
}

// escapePointer escapes a JSON pointer token (RFC 6901).
func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func keySet(objs []*unstructured.Unstructured) map[objectKey]bool {
	out := make(map[objectKey]bool, len(objs))
	for _, o := range objs {
		out[RefOf(o).key()] = true
	}
	return out
}
