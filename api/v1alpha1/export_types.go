package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// ExportVersion is one version of an exported CRD.
type ExportVersion struct {
	// Name of the version, e.g. v1.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Served says whether the app cluster's API server serves this version.
	Served bool `json:"served"`
	// Storage marks the one version objects are stored in.
	Storage bool `json:"storage"`
	// +optional
	Deprecated bool `json:"deprecated,omitempty"`
	// +optional
	DeprecationWarning *string `json:"deprecationWarning,omitempty"`

	// Schema is the version's openAPIV3Schema, exactly as the CRD holds it.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Schema runtime.RawExtension `json:"schema"`

	// +optional
	Subresources *apiextensionsv1.CustomResourceSubresources `json:"subresources,omitempty"`
	// +optional
	// +listType=atomic
	AdditionalPrinterColumns []apiextensionsv1.CustomResourceColumnDefinition `json:"additionalPrinterColumns,omitempty"`
	// +optional
	// +listType=atomic
	SelectableFields []apiextensionsv1.SelectableField `json:"selectableFields,omitempty"`
}

// CRDSnapshot is everything an app cluster needs to recreate a CRD: group,
// names, scope and versions with their schemas, in the provider's order. It
// holds nothing specific to one cluster, so one snapshot serves every cluster
// that binds the CRD.
type CRDSnapshot struct {
	// Annotations are the provider CRD's annotations that travel with it
	// because the app cluster's API server needs them: only
	// api-approved.kubernetes.io, without which a CRD in a *.k8s.io or
	// *.kubernetes.io group is refused.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// Group of the CRD, e.g. anynines.com.
	// +kubebuilder:validation:MinLength=1
	Group string `json:"group"`
	// Names of the CRD: plural, singular, kind, listKind, shortNames, categories.
	Names apiextensionsv1.CustomResourceDefinitionNames `json:"names"`
	// Scope is Namespaced or Cluster.
	// +kubebuilder:validation:Enum=Namespaced;Cluster
	Scope apiextensionsv1.ResourceScope `json:"scope"`
	// Versions of the CRD, in the provider's order. Under webhook conversion
	// only the storage version is kept (see DroppedVersions).
	// +kubebuilder:validation:MinItems=1
	// +listType=atomic
	Versions []ExportVersion `json:"versions"`
	// DroppedVersions are served versions of the provider's CRD that the
	// snapshot leaves out because converting them needs the provider's
	// webhook, which an app cluster cannot reach.
	// +optional
	// +listType=atomic
	DroppedVersions []string `json:"droppedVersions,omitempty"`
}

// APIServiceExportSpec is the CRD snapshot plus what the binding grants.
type APIServiceExportSpec struct {
	CRDSnapshot `json:",inline"`

	// SchemaHash is the sha256 (hex) of the snapshot's canonical form.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	SchemaHash string `json:"schemaHash"`

	// TemplateRef names the template this export was rendered from.
	TemplateRef TemplateReference `json:"templateRef"`

	// PermissionClaims granted with this export, copied from the template.
	// +optional
	// +listType=atomic
	PermissionClaims []PermissionClaim `json:"permissionClaims,omitempty"`
}

// APIServiceExportStatus is written by agents that report back.
type APIServiceExportStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: ConsumerInSync.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ConsumerRevision is the state-repository revision the app cluster
	// last applied, as <branch>@sha1:<hash>.
	// +optional
	ConsumerRevision string `json:"consumerRevision,omitempty"`
	// Instances are the counts of this API's instances the app cluster's
	// agent syncs (its binding's status.instances), as it last reported
	// them; absent while it syncs none (instance sync off, or no report).
	// +optional
	Instances *InstanceCounts `json:"instances,omitempty"`
}

// APIServiceExport is one CRD bound by one app cluster: the snapshot of the CRD
// and the permissions that come with it. Its name is <plural>.<group> and it
// lives in the cluster's namespace on the control plane.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=bsexport;export,categories=bindsync
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.names.kind`
// +kubebuilder:printcolumn:name="Template",type=string,JSONPath=`.spec.templateRef.name`
// +kubebuilder:printcolumn:name="Schema",type=string,JSONPath=`.spec.schemaHash`,priority=1
// +kubebuilder:printcolumn:name="In Sync",type=string,JSONPath=`.status.conditions[?(@.type=="ConsumerInSync")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type APIServiceExport struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec APIServiceExportSpec `json:"spec"`
	// +optional
	Status APIServiceExportStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// APIServiceExportList is a list of APIServiceExports.
type APIServiceExportList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []APIServiceExport `json:"items"`
}
