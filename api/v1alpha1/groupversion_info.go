package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of every bindsync kind.
const GroupName = "bindsync.io"

var (
	// GroupVersion is the group and version of this package's kinds.
	GroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1alpha1"}

	// SchemeBuilder registers this package's kinds with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this package's kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&AppCluster{}, &AppClusterList{},
		&APIServiceExportTemplate{}, &APIServiceExportTemplateList{},
		&APIServiceExportRequest{}, &APIServiceExportRequestList{},
		&APIServiceExport{}, &APIServiceExportList{},
		&APIServiceBinding{}, &APIServiceBindingList{},
		&APIServiceNamespace{}, &APIServiceNamespaceList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
