package staterepo

// builtinGroups are the API groups Kubernetes serves itself (kube-apiserver
// and the metrics API). RBAC names a group and a resource, never who serves
// it, so a CRD in one of these groups could stand in for a built-in resource
// of the same name (leases in coordination.k8s.io): bound resources and
// claims in them are refused, the renderer writes no such CRD and the agent
// refuses one it finds in the state repository. CRD groups under k8s.io
// that Kubernetes does not serve (gateway.networking.k8s.io,
// snapshot.storage.k8s.io) are not built in and can be bound like any other.
var builtinGroups = map[string]bool{
	"admissionregistration.k8s.io": true, "apiextensions.k8s.io": true, "apiregistration.k8s.io": true,
	"apps": true, "authentication.k8s.io": true, "authorization.k8s.io": true, "autoscaling": true,
	"batch": true, "certificates.k8s.io": true, "coordination.k8s.io": true, "discovery.k8s.io": true,
	"events.k8s.io": true, "extensions": true, "flowcontrol.apiserver.k8s.io": true,
	"internal.apiserver.k8s.io": true, "k8s.io": true, "kubernetes.io": true, "metrics.k8s.io": true,
	"networking.k8s.io": true, "node.k8s.io": true, "policy": true, "rbac.authorization.k8s.io": true,
	"resource.k8s.io": true, "scheduling.k8s.io": true, "storage.k8s.io": true, "storagemigration.k8s.io": true,
}

// IsBuiltinGroup reports whether Kubernetes serves group itself, so that no
// resource in it may be bound or claimed (see builtinGroups).
func IsBuiltinGroup(group string) bool { return builtinGroups[group] }
