// Package git owns bindsync's access to Git repositories: the state
// repository the backend writes and agents read.
//
// It works through go-git's object plumbing (blobs, trees, commits, refs)
// rather than the worktree and status machinery, which is slow on the large
// trees of a state repository. A rendered tree becomes one commit by hashing
// every distinct byte slice once and writing only the blobs and trees the
// object store lacks; a render that changes nothing writes nothing.
//
// A Repo is a bare repository on disk. With no URL it is the state
// repository itself (the backend's --data-dir mode; agents read it over
// file://). With a URL it is a cache of the remote whose branches mirror the
// remote's after each Fetch; Push moves a remote branch as a compare-and-swap
// and Publish retries a commit on top of whatever another writer pushed.
//
// Every error names the repository (URL or folder) and the ref it concerns
// and wraps its cause with %w, so callers can test for the sentinel errors
// below with errors.Is.
package git
