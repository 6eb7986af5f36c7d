package apply

import (
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// kindOrder ranks the kinds other objects depend on; kinds not listed come
// after them.
var kindOrder = map[string]int{
	"Namespace":                1,
	"CustomResourceDefinition": 2,
	"ServiceAccount":           3,
	"ClusterRole":              4,
	"ClusterRoleBinding":       5,
	"Role":                     6,
	"RoleBinding":              7,
}

// Sort orders objects for applying: Namespaces, CRDs, ServiceAccounts and
// RBAC first, then by API group, kind, namespace and name (and version). The
// order depends only on the objects, never on the input's order, so two
// builds of the same folder apply, and print, the same way.
func Sort(objs []*unstructured.Unstructured) {
	rank := func(o *unstructured.Unstructured) int {
		if r, ok := kindOrder[o.GetKind()]; ok {
			return r
		}
		return len(kindOrder) + 1
	}
	sort.SliceStable(objs, func(i, j int) bool {
		a, b := objs[i], objs[j]
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra < rb
		}
		ga, gb := a.GroupVersionKind(), b.GroupVersionKind()
		for _, pair := range [][2]string{
			{ga.Group, gb.Group}, {ga.Kind, gb.Kind}, {a.GetNamespace(), b.GetNamespace()},
			{a.GetName(), b.GetName()}, {ga.Version, gb.Version},
		} {
			if pair[0] != pair[1] {
				return pair[0] < pair[1]
			}
		}
		return false
	})
}
