package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MaxBindingHistory caps APIServiceBindingStatus.History.
const MaxBindingHistory = 5

// APIServiceBindingSpec is the developer's consent to receive one CRD.
type APIServiceBindingSpec struct {
	// DeletionPolicy says what happens to the CRD when this binding is
	// deleted: Orphan (default) keeps it; Delete removes it, and only when it
	// has no instances.
	// +optional
	// +kubebuilder:default=Orphan
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// BindingHistoryEntry records one schema the agent applied.
type BindingHistoryEntry struct {
	// Revision of the state repository, as <branch>@sha1:<hash>.
	Revision string `json:"revision"`
	// SchemaHash applied at that revision.
	SchemaHash string `json:"schemaHash"`
	// AppliedAt is when the agent applied it.
	AppliedAt metav1.Time `json:"appliedAt"`
}

// APIServiceBindingStatus is written by the agent.
type APIServiceBindingStatus struct {
	// +optional
	// -1 until bindsync first writes the status (kstatus: InProgress).
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready and SchemaInSync, plus Reconciling and Stalled while
	// they are true.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// CRDName is the CRD this binding brought, <plural>.<group>.
	// +optional
	CRDName string `json:"crdName,omitempty"`

	// BoundSchemaHash is the schema hash of the CRD now applied.
	// +optional
	BoundSchemaHash string `json:"boundSchemaHash,omitempty"`

	// LastAppliedRevision is the last revision applied successfully.
	// +optional
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`

	// LastAttemptedRevision is the last revision the agent tried to apply.
	// +optional
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`

	// History of applied schemas, newest first, at most 5 entries.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=5
	History []BindingHistoryEntry `json:"history,omitempty"`

	// Instances counts this API's instances the agent syncs with the
	// control plane; absent while instance sync is off.
	// +optional
	Instances *InstanceCounts `json:"instances,omitempty"`
}

// InstanceCounts are the instances of one bound API, as the agent last
// synced them.
type InstanceCounts struct {
	// Synced instances: the provider copy holds the app object's spec and the
	// app object the copy's status.
	Synced int32 `json:"synced"`
	// Failed instances: their copy could not be written or read (the
	// InstancesSynced condition names the first few).
	Failed int32 `json:"failed"`
	// Restored app objects: provider copies whose app object was missing
	// and was made again from the copy (never deleted).
	// +optional
	Restored int32 `json:"restored,omitempty"`
}

// APIServiceBinding lives in an app cluster and binds one exported CRD into
// it. Its name is the CRD's name, <plural>.<group>.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=bsbinding,categories=bindsync
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$')",message="APIServiceBinding name must be the CRD name, <plural>.<group>"
// +kubebuilder:printcolumn:name="CRD",type=string,JSONPath=`.status.crdName`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Schema In Sync",type=string,JSONPath=`.status.conditions[?(@.type=="SchemaInSync")].status`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.lastAppliedRevision`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type APIServiceBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec APIServiceBindingSpec `json:"spec,omitempty"`
	// Status defaults to {observedGeneration: -1} (the API server fills it in on
	// read), so kstatus reads a new object as InProgress, not Current, until
	// bindsync first writes its status.
	// +optional
	// +kubebuilder:default={}
	Status APIServiceBindingStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// APIServiceBindingList is a list of APIServiceBindings.
type APIServiceBindingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []APIServiceBinding `json:"items"`
}
