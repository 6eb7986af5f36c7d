// Package staterepo owns the state repository's contract: what a state
// repository holds and how bindsync's writers and readers name its parts.
// It imports nothing of bindsync, so the renderer, git, the backend, the
// agent and the CLI all read the same rules from one place.
//
//	Tree                       the repository's files: path -> bytes (read-only)
//	ClusterDir, AppDir, ...    the layout: clusters/<cluster>/{control-plane,app,namespaces,revoked}
//	MarkerPath, Marker, Readme the marker (.bindsync.yaml, StateFormat) and README.md
//	ApproveBranch, SchemaBranch the branches bindsync writes under BranchPrefix
//	Message, Trailer*, Cause*  commit messages, their Bindsync-* trailers and parser
//	Revision                   "<branch>@sha1:<hash>", as statuses and logs show it
//	ShortHash                  the one way a hash is cut for people
//	IsBuiltinGroup             API groups no state repository carries a CRD for
package staterepo
