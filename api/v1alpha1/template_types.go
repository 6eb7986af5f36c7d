package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// GroupResource names a resource by API group and plural name.
type GroupResource struct {
	// Group is the API group; empty for the core group, otherwise a DNS
	// subdomain (lower-case labels separated by dots).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$`
	Group string `json:"group,omitempty"`
	// Resource is the plural resource name, e.g. "postgresqlinstances".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Resource string `json:"resource"`
}

// String returns "resource.group", or "resource" for the core group.
func (g GroupResource) String() string {
	if g.Group == "" {
		return g.Resource
	}
	return g.Resource + "." + g.Group
}

// Verb is a Kubernetes API verb that a permission claim may grant.
// +kubebuilder:validation:Enum=get;list;watch;create;update;patch;delete;deletecollection
type Verb string

// ClaimVerbs are the verbs a permission claim may grant, and the only ones:
// the renderer refuses any other. The enum marker on Verb, from which the
// template CRD's validation is generated, lists exactly these in this order;
// a test reads the generated CRD and keeps the two equal.
var ClaimVerbs = []Verb{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}

// ClaimableCoreResources are the resources of the core group a permission
// claim may name. Anything else of the core group (pods, namespaces,
// serviceaccounts, resourcequotas, ...) would let an app cluster run code or
// change the limits of its own namespace on the control plane.
var ClaimableCoreResources = []string{"configmaps", "secrets"}

// PermissionClaim asks for access to related objects in the app cluster's
// namespace. Claims are an allowlist: a claim names Secrets or ConfigMaps
// (core group), or a resource in the group of one of the template's own
// bound resources. Sub-resources ("pods/exec", "serviceaccounts/token") are
// never claimable: Resource is a plain DNS label.
type PermissionClaim struct {
	GroupResource `json:",inline"`

	// Verbs the app cluster may use on the claimed objects. "*" is not a verb.
	// +kubebuilder:validation:MinItems=1
	// +listType=set
	Verbs []Verb `json:"verbs"`

	// ResourceNames narrows the claim to named objects. Empty means every
	// object of the resource in the cluster's namespace. Each name is a
	// non-empty DNS subdomain: RBAC matches the empty name of a list or create
	// request against "", so an empty name would grant every object. With
	// names, RBAC grants get, update, patch and delete on those objects, and
	// list and watch only to requests that select one of them by name (field
	// selector metadata.name=<name>); it never grants create or
	// deletecollection.
	// +optional
	// +listType=set
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ResourceNames []string `json:"resourceNames,omitempty"`

	// Selector documents which objects the app cluster may use (for example
	// label bindsync.io/claimed=true). Kubernetes RBAC cannot enforce label
	// selectors; the agent applies them when it syncs related objects.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`

	// Owner says which side writes the claimed objects, and so which way the
	// agent copies them: Provider (default) objects are written on the
	// control plane (a connection Secret the provider writes next to the
	// instance) and copied down into the instance's app namespace; Consumer
	// objects are written in the app cluster (a ConfigMap of parameters) and
	// copied up. The copy keeps the name and data; nothing crosses from one
	// cluster or app namespace to another.
	// +optional
	// +kubebuilder:validation:Enum=Provider;Consumer
	Owner ClaimOwner `json:"owner,omitempty"`

	// References select claimed objects by the names bound objects give them:
	// an object is selected when its name is found at JSONPath of a bound
	// object in the same namespace (for example
	// .spec.writeConnectionSecretToRef.name). References, ResourceNames and
	// Selector narrow together: an object must pass each that is set.
	// +optional
	// +listType=atomic
	References []ClaimReference `json:"references,omitempty"`
}

// ClaimOwner is the side that writes a claimed object.
type ClaimOwner string

const (
	// ClaimOwnerProvider objects are written on the control plane and copied
	// down into the app namespace.
	ClaimOwnerProvider ClaimOwner = "Provider"
	// ClaimOwnerConsumer objects are written in the app cluster and copied up.
	ClaimOwnerConsumer ClaimOwner = "Consumer"
)

// OwnerOrDefault returns the claim's owner, Provider when unset.
func (c PermissionClaim) OwnerOrDefault() ClaimOwner {
	if c.Owner == "" {
		return ClaimOwnerProvider
	}
	return c.Owner
}

// ClaimReference names the bound resource and the field of its objects
// that holds a claimed object's name.
type ClaimReference struct {
	// Group of the bound resource whose objects hold the reference.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?$`
	Group string `json:"group,omitempty"`
	// Resource is the bound resource's plural name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Resource string `json:"resource"`
	// JSONPath is a dotted field path into the bound object, for example
	// .spec.writeConnectionSecretToRef.name. Only plain field names are
	// accepted (no filters, wildcards or indexes); the value found must be a
	// string and is only ever a name in the same namespace.
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^(\.[A-Za-z_][A-Za-z0-9_-]*)+$`
	JSONPath string `json:"jsonPath"`
}

// SchemaUpdatePolicy says how changes to a bound CRD reach app clusters.
// +kubebuilder:validation:Enum=NonBreaking;Always;Never
type SchemaUpdatePolicy string

const (
	// SchemaUpdateNonBreaking rolls out compatible changes and holds breaking
	// ones on an approval branch.
	SchemaUpdateNonBreaking SchemaUpdatePolicy = "NonBreaking"
	// SchemaUpdateAlways rolls out every change.
	SchemaUpdateAlways SchemaUpdatePolicy = "Always"
	// SchemaUpdateNever keeps the schema first bound until a human approves.
	SchemaUpdateNever SchemaUpdatePolicy = "Never"
)

// ApprovalPolicy says whether a new binding needs a human.
// +kubebuilder:validation:Enum=Automatic;Manual
type ApprovalPolicy string

const (
	// ApprovalAutomatic commits new bindings straight to main.
	ApprovalAutomatic ApprovalPolicy = "Automatic"
	// ApprovalManual renders new bindings to an approval branch.
	ApprovalManual ApprovalPolicy = "Manual"
)

// DeletionPolicy says what happens to a CRD in an app cluster when its
// binding or export goes away.
// +kubebuilder:validation:Enum=Orphan;Delete
type DeletionPolicy string

const (
	// DeletionOrphan keeps the CRD (and its instances) and drops bindsync's labels.
	DeletionOrphan DeletionPolicy = "Orphan"
	// DeletionDelete deletes the CRD, and only when it has no instances.
	DeletionDelete DeletionPolicy = "Delete"
)

// APIServiceExportTemplateSpec says which APIs may be bound and how.
type APIServiceExportTemplateSpec struct {
	// Resources are the CRDs (by group and plural) that a request for this
	// template binds. Each becomes one APIServiceExport.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	Resources []GroupResource `json:"resources"`

	// PermissionClaims are the related objects the app cluster may use in its
	// namespace on the control plane.
	// +optional
	// +listType=atomic
	PermissionClaims []PermissionClaim `json:"permissionClaims,omitempty"`

	// SchemaUpdatePolicy: NonBreaking (default), Always or Never.
	// +optional
	// +kubebuilder:default=NonBreaking
	SchemaUpdatePolicy SchemaUpdatePolicy `json:"schemaUpdatePolicy,omitempty"`

	// Approval: Automatic (default) or Manual.
	// +optional
	// +kubebuilder:default=Automatic
	Approval ApprovalPolicy `json:"approval,omitempty"`
}

// APIServiceExportTemplateStatus is written by the backend.
type APIServiceExportTemplateStatus struct {
	// +optional
	// -1 until bindsync first writes the status (kstatus: InProgress).
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// BoundClusters counts the app clusters with a request for this template.
	// +optional
	BoundClusters int32 `json:"boundClusters,omitempty"`
}

// APIServiceExportTemplate declares which CRDs of the control plane app
// clusters may bind, which related objects they may use, and how schema
// changes and new bindings are approved.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=bstemplate;exporttemplate,categories=bindsync
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Resources",type=string,JSONPath=`.spec.resources[*].resource`
// +kubebuilder:printcolumn:name="Schema Updates",type=string,JSONPath=`.spec.schemaUpdatePolicy`
// +kubebuilder:printcolumn:name="Approval",type=string,JSONPath=`.spec.approval`
// +kubebuilder:printcolumn:name="Clusters",type=integer,JSONPath=`.status.boundClusters`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type APIServiceExportTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec APIServiceExportTemplateSpec `json:"spec"`
	// Status defaults to {observedGeneration: -1} (the API server fills it in on
	// read), so kstatus reads a new object as InProgress, not Current, until
	// bindsync first writes its status.
	// +optional
	// +kubebuilder:default={}
	Status APIServiceExportTemplateStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// APIServiceExportTemplateList is a list of APIServiceExportTemplates.
type APIServiceExportTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []APIServiceExportTemplate `json:"items"`
}
