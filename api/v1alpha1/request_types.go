package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TemplateReference names an APIServiceExportTemplate.
type TemplateReference struct {
	// Name of the template.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// APIServiceExportRequestSpec names the template an app cluster asks for.
type APIServiceExportRequestSpec struct {
	// TemplateRef names the template to bind. It cannot change: bind another
	// template with another request.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="templateRef is immutable; create another request to bind another template"
	TemplateRef TemplateReference `json:"templateRef"`
}

// RequestPhase summarises a request for clients that wait on it, as kube-bind
// clients do.
// +kubebuilder:validation:Enum=Pending;Succeeded;Failed
type RequestPhase string

const (
	// RequestPending: rendered or not yet, but not on main.
	RequestPending RequestPhase = "Pending"
	// RequestSucceeded: the request's exports are on main.
	RequestSucceeded RequestPhase = "Succeeded"
	// RequestFailed: the request cannot be rendered without a change to its input.
	RequestFailed RequestPhase = "Failed"
)

// APIServiceExportRequestStatus is written by the backend.
type APIServiceExportRequestStatus struct {
	// +optional
	// -1 until bindsync first writes the status (kstatus: InProgress).
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Rendered, Approved, Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Phase is Pending, Succeeded or Failed.
	// +optional
	Phase RequestPhase `json:"phase,omitempty"`

	// Revision is the state-repository revision holding this request's
	// render, as <branch>@sha1:<hash>.
	// +optional
	Revision string `json:"revision,omitempty"`

	// Exports are the APIServiceExports this request produced, each with the
	// schema hash it was rendered with.
	// +optional
	// +listType=map
	// +listMapKey=name
	Exports []ExportStatus `json:"exports,omitempty"`
}

// ExportStatus names one APIServiceExport of a request and its schema.
type ExportStatus struct {
	// Name of the APIServiceExport, <plural>.<group>.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// SchemaHash is the export's bindsync.io/schema-hash: the sha256 of its
	// canonical schema.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	SchemaHash string `json:"schemaHash,omitempty"`
}

// APIServiceExportRequest is an app cluster's request to bind a template. It
// lives in the cluster's namespace (bindsync-<cluster>) on the control plane.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=bsrequest;exportrequest,categories=bindsync
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Template",type=string,JSONPath=`.spec.templateRef.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.revision`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type APIServiceExportRequest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec APIServiceExportRequestSpec `json:"spec"`
	// Status defaults to {observedGeneration: -1} (the API server fills it in on
	// read), so kstatus reads a new object as InProgress, not Current, until
	// bindsync first writes its status.
	// +optional
	// +kubebuilder:default={}
	Status APIServiceExportRequestStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// APIServiceExportRequestList is a list of APIServiceExportRequests.
type APIServiceExportRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []APIServiceExportRequest `json:"items"`
}
