// Package v1alpha1 holds bindsync's API types, group bindsync.io.
//
// On the control plane: AppCluster (an onboarded app cluster),
// APIServiceExportTemplate (which CRDs may be bound, with which related
// permissions), APIServiceExportRequest (an app cluster asks for a template) and
// APIServiceExport (the CRD snapshot rendered for one app cluster). On each app
// cluster: APIServiceBinding (the developer's consent to receive one CRD).
//
// +kubebuilder:object:generate=true
// +groupName=bindsync.io
package v1alpha1
