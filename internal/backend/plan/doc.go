// Package plan decides what the backend writes, and nothing else: given the
// control plane's live objects, the tree main holds and the approval branches
// that exist, it says per request whether it is approved, per (template, CRD)
// which schema is approved, and returns the commits for main (one per cause,
// in order) and the tree of every pending approval branch.
//
// Plan is pure like internal/render: no clients, no git, no clock. The
// backend reads the cluster and the repository, calls Make, and writes what
// it returns.
//
// # Approval
//
// main is the approval record. A request is approved when main holds its
// files (an export in its cluster's folder carrying its template), whatever
// brought them there: a bindsync commit, a merge commit, a squash or a rebase
// of its approval branch. An Automatic request that main does not hold yet is
// approved and bound by the next commit. A Manual request is rendered onto
// bindsync/approve/<cluster>/<request> (main plus that one request) and
// stays pending until main holds its files; a deleted approval branch
// rejects it. A request whose bind commit is in main's history while main no
// longer holds its files was revoked by a human (git revert): it is rejected,
// whatever its template's approval, and the plan records the revocation in
// main (staterepo.RevokedPath of its cluster and template). The file is the
// record from then on: every request of that cluster for that template is
// rejected, whatever its UID, until a commit on main deletes it.
//
// # Schemas
//
// For every (template, CRD) that main already holds, the live CRD is compared
// with the snapshot main holds (internal/compat). Under NonBreaking a
// compatible change rolls out and a breaking one is held: main keeps its
// snapshot (read back from the export file and turned into a CRD), and
// bindsync/schema/<crd>/<hash8> holds main with the live CRD. Always rolls
// out anything; Never keeps main's snapshot without a branch. render takes
// one CRD per name, so when several templates bind one CRD and any of them
// holds its change, main keeps the snapshot for all of them.
//
// # Last good files
//
// Every tree is passed through render.KeepLastGood against the tree before
// it, so a bad object (a typo in a template, an invalid CRD) keeps its own
// files in each cluster, and the rest of those clusters renders; only a
// deletion removes what was rendered. An export file in main that does not
// decode is held the same way (ExportUnreadable): its (template, CRD) keeps
// main's files and schema, and the live CRD is never taken in its place.
package plan
