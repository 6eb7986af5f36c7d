// Package instances carries the instances of bound APIs between an app
// cluster and the control plane: for every bound, Ready API, the spec (with
// labels and annotations) of each app object goes up to a provider copy of
// the same name in the control-plane namespace the backend assigned to its
// app namespace, and the copy's status comes back down; claimed related
// objects (Secrets, ConfigMaps) follow their claim's owner side. Deleting
// an app object deletes its copy first (a finalizer on the app object); a
// copy whose app object is missing is restored into the app cluster, never
// deleted. See docs/instances.md.
package instances
