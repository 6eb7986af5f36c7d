package agent

import (
	"context"
	"errors"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
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
	if !clusterSelector(a.opts.Cluster).Matches(labels.Set(crd.Labels)) {
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
	uid, rv := crd.UID, crd.ResourceVersion
	err = a.client.Delete(ctx, &crd, client.Preconditions{UID: &uid, ResourceVersion: &rv})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete CustomResourceDefinition %s: %w", crd.Name, err)
	}
	res.Released.Deleted = append(res.Released.Deleted, ref)
	s.released = true
	return nil
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
