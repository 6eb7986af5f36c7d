package staterepo

import "path"

// Paths in the state repository. Every path uses forward slashes.
const (
	// ReadmePath is the state repository's README.
	ReadmePath = "README.md"
	// ClustersDir holds one folder per app cluster.
	ClustersDir = "clusters"
	// KustomizationFile is the file kustomize builds each folder from.
	KustomizationFile = "kustomization.yaml"
)

// ClusterDir is the folder of one app cluster.
func ClusterDir(cluster string) string { return path.Join(ClustersDir, cluster) }

// ControlPlaneDir is the folder the backend applies to the control plane for
// one app cluster: its namespace, ServiceAccount, RBAC and exports.
func ControlPlaneDir(cluster string) string { return path.Join(ClusterDir(cluster), "control-plane") }

// AppDir is the folder one app cluster's agent pulls and applies.
func AppDir(cluster string) string { return path.Join(ClusterDir(cluster), "app") }

// ExportPath is the APIServiceExport file of one CRD for one cluster.
func ExportPath(cluster, crdName string) string {
	return path.Join(ControlPlaneDir(cluster), "exports", crdName+".yaml")
}

// CRDPath is the CRD file one cluster's agent applies.
func CRDPath(cluster, crdName string) string {
	return path.Join(AppDir(cluster), "crds", crdName+".yaml")
}

// RevokedDir holds one file per template revoked for one app cluster
// (RevokedPath). It lies outside both folders anything is applied from:
// neither the agent nor the backend's control-plane apply reads it.
func RevokedDir(cluster string) string { return path.Join(ClusterDir(cluster), "revoked") }

// RevokedPath is the file that revokes template for cluster.
func RevokedPath(cluster, template string) string { return path.Join(RevokedDir(cluster), template) }

// NamespacesDir holds one file per app namespace of one cluster that has a
// control-plane namespace: the namespace and the agent's RoleBinding in it.
// The backend applies it beside the control-plane folder.
func NamespacesDir(cluster string) string { return path.Join(ClusterDir(cluster), "namespaces") }

// NamespacePath is the file of app namespace ns of cluster.
func NamespacePath(cluster, ns string) string { return path.Join(NamespacesDir(cluster), ns+".yaml") }
