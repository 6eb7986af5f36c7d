package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// APIServiceNamespaceSpec is empty: an APIServiceNamespace is named after
// the app namespace it stands for, and that is the whole request.
type APIServiceNamespaceSpec struct{}

// APIServiceNamespaceStatus is written by the backend once the namespace
// main assigns to this app namespace exists on the control plane.
type APIServiceNamespaceStatus struct {
	// +optional
	// -1 until bindsync first writes the status (kstatus: InProgress).
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Namespace is the control-plane namespace that holds the provider
	// copies of this app namespace's instances. Set only once the namespace
	// and the agent's RoleBinding in it are applied from main.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Revision is the main commit the namespace was applied from.
	// +optional
	Revision string `json:"revision,omitempty"`

	// Conditions: Ready, plus Reconciling and Stalled while they are true.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// APIServiceNamespace asks for a control-plane namespace for one app
// namespace of one cluster. The agent creates it in its cluster's namespace
// (bindsync-<cluster>), named after the app namespace, the first time an
// instance of a bound API appears there. The backend decides the name of the
// control-plane namespace (NamespaceFor), renders it with the agent's
// RoleBinding into the state repository (one commit, "namespace:
// <cluster>/<namespace>") and applies it; status.namespace then names it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=bsnamespace,categories=bindsync
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="APIServiceNamespace name must be the app namespace's name, a DNS-1123 label"
// +kubebuilder:printcolumn:name="Namespace",type=string,JSONPath=`.status.namespace`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type APIServiceNamespace struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec APIServiceNamespaceSpec `json:"spec,omitempty"`
	// +optional
	// +kubebuilder:default={}
	Status APIServiceNamespaceStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// APIServiceNamespaceList is a list of APIServiceNamespaces.
type APIServiceNamespaceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []APIServiceNamespace `json:"items"`
}
