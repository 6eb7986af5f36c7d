package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// ClusterNamespacePrefix prefixes the control-plane namespace of every app
	// cluster: AppCluster "c1" owns namespace "bindsync-c1".
	ClusterNamespacePrefix = "bindsync-"
	// AgentServiceAccount is the ServiceAccount, in the cluster's namespace,
	// that the cluster's agent acts as on the control plane.
	AgentServiceAccount = "bindsync-agent"
	// MaxClusterNameLength keeps "bindsync-<name>" a valid namespace name.
	MaxClusterNameLength = 63 - len(ClusterNamespacePrefix)
)

// AppClusterSpec describes an onboarded app cluster.
type AppClusterSpec struct {
	// DisplayName is a human name for the cluster, shown by `kubectl get`.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	DisplayName string `json:"displayName,omitempty"`
}

// AppClusterStatus is written by the backend.
type AppClusterStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	// -1 until bindsync first writes the status (kstatus: InProgress).
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Namespace is the cluster's namespace on the control plane.
	// +optional
	Namespace string `json:"namespace,omitempty"`

	// Revision is the state-repository revision that last changed this
	// cluster's folder, as <branch>@sha1:<hash>.
	// +optional
	Revision string `json:"revision,omitempty"`
}

// AppCluster is an app cluster onboarded to the control plane. Its name must be
// a DNS-1123 label of at most 54 characters: it names the folder
// clusters/<name> in the state repository and the namespace bindsync-<name>.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=bscluster,categories=bindsync
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && size(self.metadata.name) <= 54",message="AppCluster name must be a DNS-1123 label (lower case letters, digits and '-') of at most 54 characters"
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Namespace",type=string,JSONPath=`.status.namespace`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.revision`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AppCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec AppClusterSpec `json:"spec,omitempty"`
	// Status defaults to {observedGeneration: -1} (the API server fills it in on
	// read), so kstatus reads a new object as InProgress, not Current, until
	// bindsync first writes its status.
	// +optional
	// +kubebuilder:default={}
	Status AppClusterStatus `json:"status,omitempty"`
}

// Namespace returns the cluster's namespace on the control plane.
func (c *AppCluster) Namespace() string { return ClusterNamespace(c.Name) }

// ClusterNamespace returns the control-plane namespace of the named app cluster.
func ClusterNamespace(cluster string) string { return ClusterNamespacePrefix + cluster }

// +kubebuilder:object:root=true

// AppClusterList is a list of AppClusters.
type AppClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AppCluster `json:"items"`
}
