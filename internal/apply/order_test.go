package apply

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestSort: what others depend on first (Namespaces, CRDs, ServiceAccounts,
// RBAC), then the rest by group, kind, namespace and name, whatever the
// input's order (a kustomization lists its resources in any order).
func TestSort(t *testing.T) {
	in := []*unstructured.Unstructured{
		obj("v1", "ConfigMap", "bindsync-c1", "b"),
		obj("v1", "ConfigMap", "bindsync-c1", "a"),
		obj("rbac.authorization.k8s.io/v1", "RoleBinding", "bindsync-c1", "agent"),
		obj("apiextensions.k8s.io/v1", "CustomResourceDefinition", "", "widgets.example.com"),
		obj("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "", "agent"),
		obj("v1", "ServiceAccount", "bindsync-c1", "agent"),
		obj("v1", "Namespace", "", "bindsync-c1"),
	}
	want := []string{
		"Namespace bindsync-c1",
		"CustomResourceDefinition.apiextensions.k8s.io widgets.example.com",
		"ServiceAccount bindsync-c1/agent",
		"ClusterRoleBinding.rbac.authorization.k8s.io agent",
		"RoleBinding.rbac.authorization.k8s.io bindsync-c1/agent",
		"ConfigMap bindsync-c1/a",
		"ConfigMap bindsync-c1/b",
	}
	Sort(in)
	assert.Equal(t, want, kindsAndNames(in))

	reversed := make([]*unstructured.Unstructured, len(in))
	for i, o := range in {
		reversed[len(in)-1-i] = o
	}
	Sort(reversed)
	assert.Equal(t, want, kindsAndNames(reversed), "the order does not depend on the input's")
}
