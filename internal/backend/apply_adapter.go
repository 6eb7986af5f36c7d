package backend

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/apply"
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
	return applier{a}, nil
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

type applier struct{ a *apply.Applier }

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
