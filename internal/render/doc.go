// Package render turns the control plane's objects (CRDs, templates, app
// clusters, requests, APIServiceNamespaces) into the files of the state
// repository.
//
// Render is pure: plain Go values in, a Tree (path -> bytes) and a list of
// per-object problems out. It reads no cluster, no git and no clock, so the
// backend, `bindsync render` and the tests all produce the same bytes from the
// same input.
//
// # Layout
//
//	.bindsync.yaml       the marker: this folder is a state repository
//	README.md
//	clusters/<cluster>/control-plane/kustomization.yaml
//	clusters/<cluster>/control-plane/namespace.yaml
//	clusters/<cluster>/control-plane/serviceaccount.yaml
//	clusters/<cluster>/control-plane/rbac.yaml
//	clusters/<cluster>/control-plane/exports/<plural>.<group>.yaml
//	clusters/<cluster>/app/kustomization.yaml
//	clusters/<cluster>/app/crds/<plural>.<group>.yaml
//	clusters/<cluster>/revoked/<template>   a revocation (Revocation)
//	clusters/<cluster>/namespaces/kustomization.yaml
//	clusters/<cluster>/namespaces/<app namespace>.yaml   an instance namespace and the agent's Role and RoleBinding there
//
// # Shared files
//
// An export file and a CRD file hold nothing specific to one cluster: the
// namespace and the bindsync.io/cluster label come from the cluster's
// kustomization.yaml at build time. Every cluster that binds a CRD through
// the same template gets the very same bytes — one []byte shared by every
// path, serialised once — and git stores one blob for all of them.
//
// # Problems
//
// A bad object (a request for an unknown template, a template naming a CRD
// that does not exist, an invalid cluster name, two requests of one cluster
// for the same CRD) becomes a Problem naming the object and the reason. It
// never stops other clusters from rendering; a cluster whose request is bad
// still gets every good request rendered.
//
// Rendering around a bad object is not the same as publishing the result:
// the tree lacks whatever the bad object would have rendered, so writing it
// would remove a cluster's files because of a typo. Each problem therefore
// names what it holds back (Problem.Holds: the bad object's exports in each
// cluster, or a whole folder for a bad AppCluster), and KeepLastGood builds
// the tree a writer may publish: the held objects keep the files they had
// and their share of the Role, and everything else, the rest of their
// clusters included, moves on.
package render
