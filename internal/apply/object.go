package apply

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ObjectRef names one object: its group, version and kind, namespace (empty
// for cluster-scoped objects) and name. Two refs name the same object when
// they agree on everything but Version (see SameObject).
type ObjectRef struct {
	Group, Version, Kind, Namespace, Name string
}

// RefOf returns the ObjectRef of o.
func RefOf(o *unstructured.Unstructured) ObjectRef {
	gvk := o.GroupVersionKind()
	return ObjectRef{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind, Namespace: o.GetNamespace(), Name: o.GetName()}
}

// GroupVersionKind returns the ref's group, version and kind.
func (r ObjectRef) GroupVersionKind() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind}
}

// String names the object the way errors and logs show it:
// "Role.rbac.authorization.k8s.io bindsync-c1/bindsync-agent", "Namespace bindsync-c1".
func (r ObjectRef) String() string {
	kind := r.Kind
	if r.Group != "" {
		kind += "." + r.Group
	}
	if r.Namespace == "" {
		return kind + " " + r.Name
	}
	return kind + " " + r.Namespace + "/" + r.Name
}

// key identifies the object whatever version it is served at.
func (r ObjectRef) key() objectKey {
	return objectKey{r.Group, r.Kind, r.Namespace, r.Name}
}

type objectKey struct{ group, kind, namespace, name string }

// SameObject reports whether r and o name the same object (the version is
// ignored: one object is served at every version of its kind).
func (r ObjectRef) SameObject(o ObjectRef) bool { return r.key() == o.key() }

// Inventory is what was applied for one unit (for the backend, one
// clusters/<c>/control-plane folder; for the agent, one clusters/<c>/app
// folder), so that a later Prune can delete what a new revision no longer
// holds. It is not stored in any cluster: a caller recomputes it from the
// unit's previous build (see the package documentation).
type Inventory struct {
	Entries []ObjectRef
}

// Kinds returns the distinct kinds of the inventory, sorted.
func (inv Inventory) Kinds() []schema.GroupVersionKind {
	seen := map[schema.GroupVersionKind]bool{}
	var out []schema.GroupVersionKind
	for _, e := range inv.Entries {
		gvk := e.GroupVersionKind()
		if !seen[gvk] {
			seen[gvk] = true
			out = append(out, gvk)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// isCRD reports a CustomResourceDefinition of apiextensions.k8s.io.
func isCRD(r ObjectRef) bool {
	return r.Group == "apiextensions.k8s.io" && r.Kind == "CustomResourceDefinition"
}

// isNamespace reports a core Namespace.
func isNamespace(r ObjectRef) bool { return r.Group == "" && r.Kind == "Namespace" }

// Stages splits objs into the two apply stages: first CRDs and Namespaces
// (what other objects need to exist), then everything else. Each stage is in
// the order of Sort: Namespaces, CRDs,
// ServiceAccounts, ClusterRoles, ClusterRoleBindings, Roles, RoleBindings,
// then by group, kind, namespace and name. objs itself is not reordered.
func Stages(objs []*unstructured.Unstructured) (first, rest []*unstructured.Unstructured) {
	sorted := append([]*unstructured.Unstructured(nil), objs...)
	Sort(sorted)
	for _, o := range sorted {
		if r := RefOf(o); isCRD(r) || isNamespace(r) {
			first = append(first, o)
		} else {
			rest = append(rest, o)
		}
	}
	return first, rest
}

// pruneOrder sorts refs for deleting: the reverse of the apply order, so
// namespaced objects go before the RBAC that lets agents see them and
// Namespaces go last.
func pruneOrder(refs []ObjectRef) {
	objs := make([]*unstructured.Unstructured, len(refs))
	for i, r := range refs {
		o := &unstructured.Unstructured{}
		o.SetGroupVersionKind(r.GroupVersionKind())
		o.SetNamespace(r.Namespace)
		o.SetName(r.Name)
		objs[i] = o
	}
	Sort(objs)
	for i, o := range objs {
		refs[len(objs)-1-i] = RefOf(o)
	}
}
