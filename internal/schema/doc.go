// Package schema owns bindsync's view of a CRD: the snapshot that travels in an
// APIServiceExport, the content hash that names a schema, and the
// compatibility rules that decide whether a schema change may roll out.
//
// # Snapshots
//
// Snapshot turns a control-plane CRD into a v1alpha1.CRDSnapshot and ToCRD
// turns a snapshot back into the CRD an app cluster gets. The snapshot keeps
// group, names, scope and every version with its schema, subresources,
// printer columns and selectable fields; it drops everything that belongs to
// the provider's cluster (metadata, status, conversion webhook settings).
//
// # Multi-version CRDs and conversion
//
// A CRD with conversion strategy None (or no conversion stanza) is exported
// with all its versions: the app cluster's API server converts between them
// the same way the provider's does, by rewriting apiVersion.
//
// A CRD with conversion strategy Webhook cannot be converted in an app
// cluster: the provider's webhook is not reachable from there. Such a CRD is
// exported with its storage version only, and the versions left out are listed
// in CRDSnapshot.DroppedVersions (and in the rendered CRD's
// bindsync.io/dropped-versions annotation), and the renderer reports a warning
// naming them. Nothing is lost silently: a client that used a dropped version
// gets "the server could not find the requested resource" in the app cluster,
// and the platform operator sees which versions were left out and why.
//
// # Canonical form and hash
//
// Canonicalize puts a snapshot into a canonical form: versions sorted by
// name, shortNames and categories sorted, and inside every schema the lists
// whose order carries no meaning (required, enum and x-kubernetes-validations)
// sorted; x-kubernetes-list-map-keys keep their order. Hash is the sha256 of the canonical snapshot's
// JSON (whose object keys encoding/json already sorts). Two CRDs that differ
// only in key order or in the order of such lists have the same hash; any
// change an app cluster could notice changes it.
package schema
