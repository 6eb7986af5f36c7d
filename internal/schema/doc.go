// Package schema owns bindsync's view of a CRD: the snapshot that travels in an
// APIServiceExport and the content hash that names a schema. The rules that
// decide whether a schema change may roll out live in internal/compat.
//
// # Snapshots
//
// Snapshot turns a control-plane CRD into a v1alpha1.CRDSnapshot and ToCRD
// turns a snapshot back into the CRD an app cluster gets. The snapshot keeps
// group, names, scope and every version with its schema, subresources,
// printer columns and selectable fields, and of the CRD's metadata only the
// annotations listed by TravellingAnnotations (api-approved.kubernetes.io,
// which the API server requires for a CRD in a *.k8s.io or *.kubernetes.io
// group); it drops everything else that belongs to the provider's cluster
// (other metadata, status, conversion webhook settings).
//
// A snapshot keeps the provider's order: versions, shortNames, categories,
// and inside every schema enum values, required fields and CEL rules come out
// of ToCRD in the order the provider wrote them, because users see that
// order (kubectl explain lists enum values as given; CEL messages are
// reported in rule order).
//
// Snapshot first applies the defaults the API server applies when it stores
// a CRD (Default): names.singular, names.listKind and conversion strategy
// None. A CRD read from a file and the same CRD read back from an API server
// therefore give the same snapshot and the same hash, wherever the hash is
// computed: the CLI, the backend or an agent.
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
// Canonicalize puts a snapshot into a canonical form, used for the hash only:
// versions sorted by name, shortNames, categories, dropped versions and
// selectable fields sorted, and inside every schema the lists whose order
// carries no meaning to the API server (required, enum and
// x-kubernetes-validations) sorted; x-kubernetes-list-map-keys keep their
// order. An explicit x-kubernetes-preserve-unknown-fields: false is dropped
// (it says what leaving it out says), and defaults, examples and enum values
// are re-encoded the way the API server stores them (sorted keys; 1.0 and 1
// are one number). Hash is the sha256 of the canonical snapshot's JSON
// (whose object keys encoding/json already sorts).
//
// Two CRDs that differ only in key order or in the order of such lists have
// the same hash; any change an app cluster could notice changes it,
// including the travelling annotations. A provider that only reorders such a
// list therefore changes the rendered bytes (a commit in which a reviewer
// sees the reorder, and an app cluster gets the new order) but not the
// schema hash that exports, annotations and commit trailers carry.
package schema
