package v1alpha1

// Condition types. Ready, Reconciling and Stalled follow kstatus: Reconciling
// and Stalled are present only while true, so `kubectl wait
// --for=condition=Ready` and kstatus-aware tools read bindsync objects as they
// read Flux's.
const (
	// ReadyCondition means the object reached the state its spec asks for.
	ReadyCondition = "Ready"
	// ReconcilingCondition is present (True) only while work is in progress.
	ReconcilingCondition = "Reconciling"
	// StalledCondition is present (True) only while progress needs a human:
	// bad input, a pending approval that will not resolve by itself.
	StalledCondition = "Stalled"

	// RenderedCondition on an APIServiceExportRequest means its exports and
	// RBAC are in the state repository (main, or an approval branch).
	RenderedCondition = "Rendered"
	// ApprovedCondition on an APIServiceExportRequest means the rendered
	// change reached the approved branch (main).
	ApprovedCondition = "Approved"

	// SchemaInSyncCondition on an APIServiceBinding means the CRD in the app
	// cluster has exactly the schema the state repository holds for it.
	SchemaInSyncCondition = "SchemaInSync"

	// ConsumerInSyncCondition on an APIServiceExport is written by agents that
	// report back: the app cluster applied this export's schema.
	ConsumerInSyncCondition = "ConsumerInSync"
)

// Condition reasons. Each names one fact, so a user can search for it.
const (
	// SucceededReason represents the fact that the last reconcile did all it had to.
	SucceededReason = "Succeeded"
	// ProgressingReason represents the fact that work is under way.
	ProgressingReason = "Progressing"

	// TemplateNotFoundReason represents the fact that a request names a
	// template that does not exist.
	TemplateNotFoundReason = "TemplateNotFound"
	// CRDNotFoundReason represents the fact that a template names a resource
	// for which the control plane has no CRD.
	CRDNotFoundReason = "CRDNotFound"
	// InvalidCRDReason represents the fact that a control-plane CRD cannot be
	// exported (no storage version, a version without a schema, a name that is
	// not <plural>.<group>).
	InvalidCRDReason = "InvalidCRD"
	// InvalidClusterNameReason represents the fact that an AppCluster name is
	// not a DNS-1123 label short enough to prefix its namespace.
	InvalidClusterNameReason = "InvalidClusterName"
	// ConflictingRequestReason represents the fact that two requests of one
	// cluster bind the same CRD.
	ConflictingRequestReason = "ConflictingRequest"
	// InvalidTemplateReason represents the fact that a template's spec cannot
	// be rendered (for example a permission claim with the verb "*", or on a
	// resource outside the claim allowlist).
	InvalidTemplateReason = "InvalidTemplate"
	// IneffectiveClaimReason represents the fact that a template renders, but
	// a permission claim asks for access Kubernetes RBAC will not give as
	// asked (for example create on named objects). It is a warning: the
	// template's other grants are rendered.
	IneffectiveClaimReason = "IneffectiveClaim"
	// DuplicateReason represents the fact that the input holds two different
	// objects of one kind and name; neither is used.
	DuplicateReason = "Duplicate"
	// ClusterNotFoundReason represents the fact that a request lives in a
	// namespace that belongs to no AppCluster.
	ClusterNotFoundReason = "ClusterNotFound"
	// UnsupportedConversionReason represents the fact that a CRD uses webhook
	// conversion, which an app cluster cannot reach; only its storage version
	// is exported.
	UnsupportedConversionReason = "UnsupportedConversion"

	// PendingApprovalReason represents the fact that the rendered change waits
	// on an approval branch for a merge into main.
	PendingApprovalReason = "PendingApproval"
	// RejectedReason represents the fact that an approval branch was deleted
	// without being merged.
	RejectedReason = "Rejected"
	// SchemaBreakingReason represents the fact that a CRD change breaks
	// existing users and is held back by the template's schemaUpdatePolicy.
	SchemaBreakingReason = "SchemaBreaking"

	// GitUnavailableReason represents the fact that the backend could not
	// fetch from or push to the state repository; nothing was lost, and the
	// backend retries with backoff.
	GitUnavailableReason = "GitUnavailable"
	// ControlPlaneUnavailableReason represents the fact that the backend could
	// not read the control plane's objects; it retries.
	ControlPlaneUnavailableReason = "ControlPlaneUnavailable"
	// CommitFailedReason represents the fact that the backend could not write
	// a commit into its local repository.
	CommitFailedReason = "CommitFailed"
	// SchemaHeldReason represents the fact that a CRD changed and the
	// template's schemaUpdatePolicy Never keeps the schema main holds.
	SchemaHeldReason = "SchemaHeld"
	// RenderFailedReason represents the fact that a request, or an object it
	// depends on, cannot be rendered; its cluster keeps its last good files.
	RenderFailedReason = "RenderFailed"

	// ExportNotFoundReason represents the fact that the state repository holds
	// no CRD for a binding in this cluster's folder.
	ExportNotFoundReason = "ExportNotFound"
	// ForeignCRDReason represents the fact that a CRD of that name exists and
	// is not managed by bindsync; the agent never touches it.
	ForeignCRDReason = "ForeignCRD"
	// SourceUnavailableReason represents the fact that the state repository
	// could not be fetched; what is applied stays applied.
	SourceUnavailableReason = "SourceUnavailable"
	// SignatureInvalidReason represents the fact that the head commit is not
	// signed by a trusted key; nothing was applied.
	SignatureInvalidReason = "SignatureInvalid"
	// BuildFailedReason represents the fact that kustomize could not build the
	// cluster's folder.
	BuildFailedReason = "BuildFailed"
	// CRDNotEstablishedReason represents the fact that the applied CRD has not
	// become Established yet.
	CRDNotEstablishedReason = "CRDNotEstablished"
	// ApplyFailedReason represents the fact that the API server refused the apply.
	ApplyFailedReason = "ApplyFailed"
	// RefusedReason represents the fact that the agent will not apply an
	// object of the cluster's folder: a kind other than
	// CustomResourceDefinition, a CRD without an APIServiceBinding, or a CRD
	// whose name, labels or cluster do not match what bindsync renders.
	RefusedReason = "Refused"
	// InstancesExistReason represents the fact that a binding with
	// deletionPolicy Delete is being deleted, and its CRD is kept because
	// instances of it exist.
	InstancesExistReason = "InstancesExist"
	// OrphanedReason represents the fact that the CRD a binding brought was
	// released (bindsync's labels and field ownership dropped, CRD and
	// instances kept) because its export left the state repository.
	OrphanedReason = "Orphaned"
)

// Reasons of the backend's push phase and of a remote that lost main.
const (
	// BranchNotPushedReason represents the fact that a pending request's
	// approval branch could not be pushed (the remote refused it or was
	// unreachable); the request stays Pending and the next reconcile tries
	// again. Other branches and main are unaffected.
	BranchNotPushedReason = "BranchNotPushed"
	// MainBranchLostReason represents the fact that the remote has no main
	// branch although the backend knew one (its clone, or a request's
	// status, names a revision of it): the backend writes, applies and
	// prunes nothing until main is restored or an operator starts it once
	// with --init.
	MainBranchLostReason = "MainBranchLost"
)

// Condition reasons of the backend's control-plane apply.
const (
	// ApplyRefusedReason represents the fact that the backend will not apply
	// a cluster's control-plane folder in main: it holds an object render
	// could not have written for that cluster (another kind, name or
	// namespace, or RBAC render never grants). Nothing of the folder is
	// applied or pruned until main holds what render writes.
	ApplyRefusedReason = "ApplyRefused"
)

// Reasons of holds that are per object (issue 13 items 2 and 6).
const (
	// DuplicateRequestReason represents the fact that a request asks its
	// cluster for a template another request of that cluster already binds:
	// it renders nothing and holds nothing back.
	DuplicateRequestReason = "DuplicateRequest"
	// ExportUnreadableReason represents the fact that an export file in
	// main cannot be decoded: main keeps that (template, CRD)'s files as
	// they are, and its schema does not change until the file is fixed.
	ExportUnreadableReason = "ExportUnreadable"
)

// Labels and annotations on everything bindsync renders.
const (
	// ManagedLabel marks objects bindsync owns ("true").
	ManagedLabel = "bindsync.io/managed"
	// ClusterLabel names the app cluster an object was rendered for. It is set
	// by that cluster's kustomization, never inside a shared snapshot file.
	ClusterLabel = "bindsync.io/cluster"
	// SchemaHashAnnotation is the sha256 of the canonical schema of an export.
	SchemaHashAnnotation = "bindsync.io/schema-hash"
	// TemplateAnnotation names the APIServiceExportTemplate an object comes from.
	TemplateAnnotation = "bindsync.io/template"
	// ReconcileRequestedAnnotation on any APIServiceBinding asks the agent to
	// reconcile now instead of at its next interval; its value is free (a
	// timestamp by convention: kubectl annotate --overwrite ...=$(date +%s)).
	ReconcileRequestedAnnotation = "bindsync.io/reconcile-requested-at"
	// AgentFinalizer on an APIServiceBinding lets the agent apply the
	// binding's deletionPolicy to its CRD before the binding goes away.
	AgentFinalizer = "bindsync.io/agent"
	// DroppedVersionsAnnotation lists the CRD versions left out of an export
	// (comma-separated) because they need webhook conversion.
	DroppedVersionsAnnotation = "bindsync.io/dropped-versions"
)

// Agent: released CRDs and schema rollbacks.
const (
	// ReleasedAnnotation is left by the agent on a CRD it releases
	// (deletionPolicy Orphan, or its export left the state repository); its
	// value is the cluster the CRD was released from. A CRD without
	// bindsync's labels that carries it is taken back by that cluster's
	// agent when it is bound and exported again; any other unlabelled CRD
	// stays foreign.
	ReleasedAnnotation = "bindsync.io/released-from"
	// SchemaRollbackReason represents the fact that the agent did not apply
	// a CRD because it would change the live one in a breaking way (a
	// reverted schema commit, a force-push to an older head) and the state
	// repository does not approve that change: no commit since the CRD's
	// last schema commit carries Bindsync-Schema-Hash: <crd>=<hash> with
	// Bindsync-Compat: breaking.
	SchemaRollbackReason = "SchemaRollback"
)

// Instance sync (issue 14): the agent carries instances of bound APIs to
// the control plane and their status and connection objects back.
const (
	// InstancesSyncedCondition on an APIServiceBinding says whether every
	// instance of its API is synced with its provider copy; its message
	// gives the counts and the first few failures ("2 of 40 not synced:
	// shop/orders-db: ..."). Absent while instance sync is off.
	InstancesSyncedCondition = "InstancesSynced"

	// SyncFailedReason represents the fact that some instances could not be
	// written or read on one side (refused by the provider's validation or
	// an admission webhook, forbidden, a conflict); each also has an event
	// on its app object.
	SyncFailedReason = "SyncFailed"
	// NoControlPlaneReason represents the fact that the agent runs without
	// --control-plane-kubeconfig: instances are not synced.
	NoControlPlaneReason = "NoControlPlane"
	// NamespacePendingReason represents the fact that an app namespace's
	// control-plane namespace is requested (APIServiceNamespace) and not
	// yet applied from main.
	NamespacePendingReason = "NamespacePending"
	// CopyRestoredReason represents the fact that a provider copy had no app
	// object (the app cluster was rebuilt, a finalizer was removed by force)
	// and the agent made the app object again from the copy. Copies are
	// never deleted for a missing app object.
	CopyRestoredReason = "CopyRestored"
	// InvalidNamespaceReason represents the fact that an APIServiceNamespace
	// cannot be given a namespace (its name is not a DNS-1123 label, or it is
	// outside a cluster namespace).
	InvalidNamespaceReason = "InvalidNamespace"
)

// Instance sync: the origin of a provider copy, and the agent's finalizer.
const (
	// ConsumerClusterAnnotation on a provider copy names the app cluster
	// its app object lives in.
	ConsumerClusterAnnotation = "bindsync.io/consumer-cluster"
	// ConsumerNamespaceAnnotation names the app object's namespace.
	ConsumerNamespaceAnnotation = "bindsync.io/consumer-namespace"
	// ConsumerNameAnnotation names the app object.
	ConsumerNameAnnotation = "bindsync.io/consumer-name"
	// ConsumerUIDAnnotation is the app object's UID.
	ConsumerUIDAnnotation = "bindsync.io/consumer-uid"
	// ConsumerNamespaceLabel on a control-plane instance namespace names
	// the app namespace it stands for (with ClusterLabel for the cluster).
	ConsumerNamespaceLabel = "bindsync.io/consumer-namespace"
	// InstanceFinalizer on an app object keeps it until its provider copy
	// is gone, so deleting a database waits for its deprovisioning.
	InstanceFinalizer = "bindsync.io/instance"
)

// Instance sync: the scope this version does not sync.
const (
	// UnsupportedScopeReason represents the fact that a bound API is
	// cluster-scoped: its instances are not synced in this version (a
	// provider copy needs a control-plane namespace of its app namespace).
	UnsupportedScopeReason = "UnsupportedScope"
)
