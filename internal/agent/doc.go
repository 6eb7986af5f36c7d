// Package agent is the app-cluster half of bindsync: it reads the cluster's
// folder of the state repository (clusters/<cluster>/app), builds it with
// kustomize, applies the CustomResourceDefinitions that have an
// APIServiceBinding, and reports on each binding.
//
// One Sync is one pass, in phases: source (ls-remote, fetch only a moved
// head), build (kustomize, confined to the folder), select (only bound CRDs;
// everything else is refused and reported), apply (server-side, compare
// first), release (orphan or delete what lost its export or binding), status
// (each binding's status written only when it changed). A pass with nothing
// new fetches nothing and writes nothing. A failed fetch or build never
// removes anything.
//
// Instance sync (package instances) hangs off the pass: after a pass that
// built the folder the agent tells the Syncer which bindings are Ready (Set),
// and a deleted binding's instances are released (Release, with its
// deletionPolicy) before its CRD step. Without a control plane the agent
// only says so on each Ready binding (InstancesSynced NoControlPlane); with
// sync off there is no InstancesSynced condition at all.
//
// The Manager runs Sync from controller-runtime: on binding and labelled CRD
// events, on an interval with jitter, after a shorter retry interval when a
// pass failed, and on demand (the reconcile-requested-at annotation, a signed
// webhook call).
package agent
