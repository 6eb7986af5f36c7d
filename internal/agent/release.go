package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/apply"
)

// releaseDeleted carries out the deletionPolicy of bindings being deleted:
// Orphan (default) releases the CRD; Delete deletes it only when it has no
// instances, and otherwise keeps the binding (and its finalizer) and says so.
// CRDs without bindsync's labels are never touched. It does not need the
// state repository, so it runs even when the source failed.
func (a *Agent) releaseDeleted(ctx context.Context, p *pass, res *Result) error {
	var errs []error
	for i := range p.bindings {
		b := &p.bindings[i]
		if b.DeletionTimestamp == nil || !hasFinalizer(b) {
			continue
		}
		if err := a.releaseOne(ctx, p, b, res); err != nil {
			errs = append(errs, fmt.Errorf("release CRD of deleted APIServiceBinding %s: %w", b.Name, err))
			continue
		}
		if !p.state(b.Name).released {
			continue
		}
		patch := client.MergeFrom(b.DeepCopy())
		var keep []string
		for _, f := range b.Finalizers {
			if f != v1alpha1.AgentFinalizer {
				keep = append(keep, f)
			}
		}
		b.Finalizers = keep
		if err := a.client.Patch(ctx, b, patch); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("remove finalizer of APIServiceBinding %s: %w", b.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (a *Agent) releaseOne(ctx context.Context, p *pass, b *v1alpha1.APIServiceBinding, res *Result) error {
	s := p.state(b.Name)
	var crd apiextensionsv1.CustomResourceDefinition
	err := a.client.Get(ctx, client.ObjectKey{Name: b.Name}, &crd)
	if apierrors.IsNotFound(err) {
		s.released = true // nothing of bindsync's to release
		return nil
	}
	if err != nil {
		return err
	}
	ours := clusterSelector(a.opts.Cluster).Matches(labels.Set(crd.Labels))
	if a.opts.instanceMode() == instancesSynced {
		// The instances first: with Delete the CRD can only go once they
		// are gone, and with Orphan bindsync's finalizers must leave them
		// while the agent still knows which objects carry them.
		if done, err := a.releaseInstances(ctx, p, b, &crd, ours); err != nil || !done {
			return err
		}
	}
	if !ours {
		s.released = true // not bindsync's: never touched
		return nil
	}
	ref := crdRef(crd.Name)
	if b.Spec.DeletionPolicy != v1alpha1.DeletionDelete {
		r, err := a.applier.Orphan(ctx, []apply.ObjectRef{ref})
		res.Released.Add(r)
		if err != nil {
			return err
		}
		s.released = true
		a.event(ref, "Normal", v1alpha1.OrphanedReason, "%s released: APIServiceBinding deleted with deletionPolicy Orphan; CRD and instances kept", ref)
		return nil
	}
	n, err := a.hasInstances(ctx, &crd)
	if apierrors.IsForbidden(err) {
		s.reason = v1alpha1.InstancesExistReason
		s.message = fmt.Sprintf("deletionPolicy Delete: the agent may not list %s in API group %s in all namespaces, so it cannot tell that none exists and keeps CustomResourceDefinition %s; "+
			"grant its ServiceAccount {apiGroups: [%s], resources: [%s], verbs: [list]} in a ClusterRole (config/agent/delete-policy), or delete the CRD by hand (%v)",
			crd.Spec.Names.Plural, crd.Spec.Group, crd.Name, crd.Spec.Group, crd.Spec.Names.Plural, err)
		return nil
	}
	if err != nil {
		return err
	}
	if n {
		s.reason = v1alpha1.InstancesExistReason
		s.message = fmt.Sprintf("deletionPolicy Delete: CustomResourceDefinition %s still has instances; it is deleted once they are gone", crd.Name)
		return nil
	}
	if a.afterCount != nil {
		a.afterCount(crd.Name)
	}
	return a.deleteGuarded(ctx, s, &crd, res)
}

// deleteGuardRule is the validation rule the agent adds to a CRD it is about
// to delete: no instance can be created (or changed) while it is in place.
const deleteGuardRule = "false"

// deleteGuardMessage is what the API server answers a create while the guard
// is in place.
const deleteGuardMessage = "bindsync is deleting this CustomResourceDefinition (APIServiceBinding deleted with deletionPolicy Delete): no new instances"

// deleteGuardSettle is how long the agent lets the API server load the
// guarded CRD before it looks for instances again: the API server serves a
// CRD's new schema once its own watch has seen the update, a few
// milliseconds later on one server.
var deleteGuardSettle = time.Second

// deleteGuarded deletes a CRD found without instances, so that an instance
// created meanwhile is never deleted with it. An instance count and a delete
// are two requests, and creating an instance does not change the CRD's
// resourceVersion, so a precondition alone cannot see one created in
// between. Instead the agent first adds a validation rule that refuses every
// create (deleteGuardRule, at the root of each version's schema, under a
// resourceVersion precondition), waits for the API server to serve it, looks
// for instances again, and deletes with the guarded CRD's UID and
// resourceVersion as preconditions. An instance found on the second look
// keeps the CRD (InstancesExist) and the guard is taken off again. What is
// left: an API server that has not yet loaded the guarded schema after
// deleteGuardSettle (an HA control plane whose other servers lag) could
// still accept a create in that moment.
func (a *Agent) deleteGuarded(ctx context.Context, s *outcome, crd *apiextensionsv1.CustomResourceDefinition, res *Result) error {
	ref := crdRef(crd.Name)
	guarded, undo, err := a.guard(ctx, crd)
	if err != nil {
		return fmt.Errorf("guard CustomResourceDefinition %s against new instances before deleting it: %w", crd.Name, err)
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(deleteGuardSettle):
	}
	n, err := a.hasInstances(ctx, guarded)
	if err == nil && n {
		s.reason = v1alpha1.InstancesExistReason
		s.message = fmt.Sprintf("deletionPolicy Delete: CustomResourceDefinition %s got an instance while it was being deleted; it is kept and deleted once its instances are gone", crd.Name)
		return undo(ctx)
	}
	if err != nil {
		return errors.Join(err, undo(ctx))
	}
	if a.beforeDelete != nil {
		a.beforeDelete(crd.Name)
	}
	uid, rv := guarded.UID, guarded.ResourceVersion
	err = a.client.Delete(ctx, guarded, client.Preconditions{UID: &uid, ResourceVersion: &rv})
	if err != nil && !apierrors.IsNotFound(err) {
		return errors.Join(fmt.Errorf("delete CustomResourceDefinition %s: %w", crd.Name, err), undo(ctx))
	}
	res.Released.Deleted = append(res.Released.Deleted, ref)
	s.released = true
	return nil
}

// guard adds deleteGuardRule to every version of crd, if crd is still at the
// resourceVersion read, and returns the guarded CRD and a function that takes
// the rule off again.
func (a *Agent) guard(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) (*apiextensionsv1.CustomResourceDefinition, func(context.Context) error, error) {
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value,omitempty"`
	}
	rule := apiextensionsv1.ValidationRule{Rule: deleteGuardRule, Message: deleteGuardMessage}
	ops := []op{{Op: "test", Path: "/metadata/resourceVersion", Value: crd.ResourceVersion}}
	var undo []op
	for i, v := range crd.Spec.Versions {
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		at := fmt.Sprintf("/spec/versions/%d/schema/openAPIV3Schema/x-kubernetes-validations", i)
		if rules := v.Schema.OpenAPIV3Schema.XValidations; len(rules) > 0 {
			ops = append(ops, op{Op: "add", Path: at + "/-", Value: rule})
			last := fmt.Sprintf("%s/%d", at, len(rules))
			undo = append(undo, op{Op: "test", Path: last + "/message", Value: deleteGuardMessage}, op{Op: "remove", Path: last})
		} else {
			ops = append(ops, op{Op: "add", Path: at, Value: []apiextensionsv1.ValidationRule{rule}})
			undo = append(undo, op{Op: "test", Path: at + "/0/message", Value: deleteGuardMessage}, op{Op: "remove", Path: at})
		}
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return nil, nil, err
	}
	guarded := crd.DeepCopy()
	if err := a.client.Patch(ctx, guarded, client.RawPatch(types.JSONPatchType, patch), client.FieldOwner(FieldManager)); err != nil {
		return nil, nil, err
	}
	return guarded, func(ctx context.Context) error {
		patch, err := json.Marshal(undo)
		if err == nil {
			err = a.client.Patch(ctx, guarded.DeepCopy(), client.RawPatch(types.JSONPatchType, patch), client.FieldOwner(FieldManager))
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("take the delete guard off CustomResourceDefinition %s: %w", crd.Name, err)
		}
		return nil
	}, nil
}

// hasInstances reports whether any object of the CRD's kind exists, in any
// namespace, reading one item's metadata.
func (a *Agent) hasInstances(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) (bool, error) {
	version := ""
	for _, v := range crd.Spec.Versions {
		if v.Served {
			version = v.Name
			if v.Storage {
				break
			}
		}
	}
	if version == "" {
		return false, nil // nothing served, nothing to list: no instance reachable
	}
	gvr := schema.GroupVersionResource{Group: crd.Spec.Group, Version: version, Resource: crd.Spec.Names.Plural}
	list, err := a.meta.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return false, fmt.Errorf("list instances of %s: %w", crd.Name, err)
	}
	return len(list.Items) > 0, nil
}
