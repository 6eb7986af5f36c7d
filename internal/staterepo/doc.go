// Package staterepo owns the state repository's contract: what a state
// repository holds and how bindsync's writers and readers name its parts.
// It imports nothing of bindsync, so the renderer, git, the backend, the
// agent and the CLI all read the same rules from one place.
//
//	Tree       the repository's files: path -> bytes
package staterepo
