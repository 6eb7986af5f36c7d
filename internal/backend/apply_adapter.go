package backend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/apply"
	"github.com/bindsync/bindsync/internal/render"
)

// pruneKinds are the kinds a control-plane folder renders, and so the only
// kinds the backend ever prunes. Namespaces are not among them: a cluster's
// namespace also holds its requests, which are not bindsync's to delete.
var pruneKinds = []schema.GroupVersionKind{
	{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version, Kind: "APIServiceExport"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "RoleBinding"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "Role"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRoleBinding"},
	{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
	{Group: "", Version: "v1", Kind: "ServiceAccount"},
}

// ControlPlaneApplier returns the Applier of the control plane at cfg:
// server-side apply as bindsync-backend, pruning only objects labelled
// bindsync.io/managed=true and the folder's bindsync.io/cluster.
func ControlPlaneApplier(cfg *rest.Config) (Applier, error) {
	managed, err := labels.NewRequirement(v1alpha1.ManagedLabel, selection.Equals, []string{"true"})
	if err != nil {
		return nil, err
	}
	a, err := apply.New(cfg, apply.Options{FieldManager: FieldManager, PruneSelector: labels.NewSelector().Add(*managed),
		Adopt: adoptClusterNamespace})
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("control-plane client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("control-plane discovery: %w", err)
	}
	return applier{a: a, dyn: dyn, disc: disc}, nil
}

// adoptClusterNamespace takes over a cluster's namespace bindsync-<cluster>
// that exists without bindsync's labels (created by hand or by another tool
// before the cluster was onboarded): the namespace is that cluster's by its
// name, bindsync never deletes a namespace, and refusing it would leave the
// cluster without its ServiceAccount and RBAC. Only the Namespace object
// whose name matches the cluster label of the folder is adopted (and the
// folder check already refused any other Namespace); a foreign object of any
// other kind is still refused.
func adoptClusterNamespace(desired, live *unstructured.Unstructured) bool {
	gvk := desired.GroupVersionKind()
	cluster := desired.GetLabels()[v1alpha1.ClusterLabel]
	return gvk.Group == "" && gvk.Kind == "Namespace" && cluster != "" &&
		desired.GetName() == v1alpha1.ClusterNamespace(cluster) && live.GetName() == desired.GetName()
}

type applier struct {
	a    *apply.Applier
	dyn  dynamic.Interface
	disc discovery.DiscoveryInterface
}

func (a applier) Apply(ctx context.Context, objs []*unstructured.Unstructured) error {
	res, err := a.a.Apply(ctx, objs)
	if err != nil {
		return err
	}
	return res.Err()
}

func (a applier) PruneCluster(ctx context.Context, cluster string, keep []*unstructured.Unstructured) error {
	sel, err := clusterSelector(selection.Equals, cluster)
	if err != nil {
		return err
	}
	res, err := a.a.PruneByLabels(ctx, sel, pruneKinds, keep)
	if err != nil {
		return err
	}
	return res.Err()
}

func (a applier) PruneOtherClusters(ctx context.Context, clusters []string) error {
	// The cluster label must exist: "notin" alone also matches objects
	// without it, which no folder of bindsync's rendered.
	sel, err := clusterSelector(selection.Exists)
	if err != nil {
		return err
	}
	if len(clusters) > 0 {
		notIn, err := labels.NewRequirement(v1alpha1.ClusterLabel, selection.NotIn, clusters)
		if err != nil {
			return fmt.Errorf("cluster selector: %w", err)
		}
		sel = sel.Add(*notIn)
	}
	res, err := a.a.PruneByLabels(ctx, sel, pruneKinds, nil)
	if err != nil {
		return err
	}
	return res.Err()
}

func clusterSelector(op selection.Operator, clusters ...string) (labels.Selector, error) {
	req, err := labels.NewRequirement(v1alpha1.ClusterLabel, op, clusters)
	if err != nil {
		return nil, fmt.Errorf("cluster selector: %w", err)
	}
	return labels.NewSelector().Add(*req), nil
}

var namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// RemoveInstanceNamespaces deletes each instance namespace of cluster not in
// keep that holds no synced copy, with a UID precondition (a namespace made
// again meanwhile is not the one checked), and returns the others.
func (a applier) RemoveInstanceNamespaces(ctx context.Context, cluster string, keep []string) ([]KeptNamespace, error) {
	sel := fmt.Sprintf("%s=true,%s=%s,%s", v1alpha1.ManagedLabel, v1alpha1.ClusterLabel, cluster, v1alpha1.ConsumerNamespaceLabel)
	list, err := a.dyn.Resource(namespacesGVR).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list namespaces %s: %w", sel, err)
	}
	var resources []schema.GroupVersionResource
	var discoverErr error
	var kept []KeptNamespace
	var errs []error
	for _, ns := range list.Items {
		name := ns.GetName()
		if slices.Contains(keep, name) || ns.GetDeletionTimestamp() != nil || !strings.HasPrefix(name, render.InstanceNamespacePrefix) {
			continue
		}
		if resources == nil && discoverErr == nil {
			resources, discoverErr = listableNamespaced(a.disc)
		}
		if discoverErr != nil {
			// a group that failed discovery may hold a copy
			kept = append(kept, KeptNamespace{Name: name, Reason: "cannot check that it holds no synced copy: " + discoverErr.Error()})
			continue
		}
		if why := a.holdsCopies(ctx, name, resources); why != "" {
			kept = append(kept, KeptNamespace{Name: name, Reason: why})
			continue
		}
		err := a.dyn.Resource(namespacesGVR).Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(ns.GetUID())}})
		if client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", name, err))
		}
	}
	return sortedKept(kept), errors.Join(errs...)
}

// holdsCopies says why namespace ns must be kept ("" when it may go): it
// holds an object labelled bindsync.io/cluster, or one of resources could
// not be listed there (the backend cannot know it is empty).
func (a applier) holdsCopies(ctx context.Context, ns string, resources []schema.GroupVersionResource) string {
	for _, gvr := range resources {
		list, err := a.dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{LabelSelector: v1alpha1.ClusterLabel, Limit: 1})
		switch {
		case apierrors.IsNotFound(err), apierrors.IsMethodNotSupported(err):
			continue
		case err != nil:
			return fmt.Sprintf("cannot check that it holds no synced copy: list %s: %v", gvr.GroupResource(), err)
		case len(list.Items) > 0:
			return fmt.Sprintf("it holds %s %s labelled %s (a synced copy); it is deleted once none is left",
				gvr.GroupResource(), list.Items[0].GetName(), v1alpha1.ClusterLabel)
		}
	}
	return ""
}

// listableNamespaced returns every namespaced resource the control plane
// serves that can be listed (its preferred version).
func listableNamespaced(disc discovery.DiscoveryInterface) ([]schema.GroupVersionResource, error) {
	lists, err := disc.ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discover namespaced resources: %w", err)
	}
	out := []schema.GroupVersionResource{}
	for _, l := range lists {
		gv, perr := schema.ParseGroupVersion(l.GroupVersion)
		if perr != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") {
				continue
			}
			out = append(out, gv.WithResource(r.Name))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("discover namespaced resources: %w", err)
	}
	return out, nil
}
