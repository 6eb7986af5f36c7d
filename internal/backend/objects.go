package backend

import (
	"context"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

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
