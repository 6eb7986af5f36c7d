// Package apply owns writing object sets to an API server: server-side
// apply in dependency order, compare first and write only what differs,
// wait for CRDs to be Established, and safe pruning of what a new revision
// no longer holds. The backend uses it for the control plane (field manager
// "bindsync-backend", one unit per clusters/<c>/control-plane folder) and the
// agent for its app cluster (field manager "bindsync-agent", the CRDs of
// clusters/<c>/app). It knows nothing of git, rendering or bindsync's kinds:
// callers pass decoded objects and the labels that mark bindsync's objects.
//
// Ownership is by label. Options.PruneSelector (for example
// bindsync.io/managed=true,bindsync.io/cluster=c1) is what makes an object
// bindsync's: every desired object must match it, an existing object that
// does not match is never modified (ErrForeign), pruned or orphaned, and
// field ownership is forced only on objects that match it.
//
// The inventory is not stored in any cluster. The backend prunes with
// PruneByLabels over the fixed list of kinds it renders, keeping what the
// cluster's folder holds; Prune takes an Inventory from a caller that knows
// what an earlier revision applied. See docs/apply.md for why, and for what
// a no-op apply costs.
package apply
