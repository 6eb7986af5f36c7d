// Package git owns bindsync's access to Git repositories through go-git's
// object plumbing: reading the files of a revision, and writing trees as
// commits.
package git

import (
	"errors"
	"fmt"
	"io"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// FileSet is the set of files of one commit that a match function selected.
// Paths maps each slash-separated path to its blob ID; the content of every
// distinct blob is read once, so a file stored at a thousand paths costs one
// read and one copy in memory.
type FileSet struct {
	// Commit is the full hash rev resolved to.
	Commit string
	// Paths maps each selected path to the hex ID of its blob.
	Paths map[string]string
	blobs map[string][]byte
}

// Content returns the content of the file at path and whether it is in the
// set.
func (s *FileSet) Content(path string) ([]byte, bool) {
	id, ok := s.Paths[path]
	if !ok {
		return nil, false
	}
	return s.blobs[id], true
}

// Blob returns the content of the blob with hex ID id and whether a selected
// file has that blob.
func (s *FileSet) Blob(id string) ([]byte, bool) {
	b, ok := s.blobs[id]
	return b, ok
}

// ReadFileSetAt reads the regular files of revision rev (a branch, tag, full
// or short commit hash, or an expression like HEAD~1) in the repository at
// repoDir whose path match accepts. A nil match selects every file. Symlinks
// and submodules are skipped. Errors name the repository and the revision.
func ReadFileSetAt(repoDir, rev string, match func(path string) bool) (*FileSet, error) {
	repo, err := gogit.PlainOpenWithOptions(repoDir, &gogit.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, fmt.Errorf("open git repository %s: %w", repoDir, err)
	}
	hash, err := repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("resolve revision %q in %s: %w", rev, repoDir, err)
	}
	commit, err := repo.CommitObject(*hash)
	if err != nil {
		return nil, fmt.Errorf("read commit %s (%q) in %s: %w", hash, rev, repoDir, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("read tree of %s (%q) in %s: %w", hash, rev, repoDir, err)
	}
	set := &FileSet{Commit: hash.String(), Paths: map[string]string{}, blobs: map[string][]byte{}}
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("walk tree of %s (%q) in %s: %w", hash, rev, repoDir, err)
		}
		if entry.Mode != filemode.Regular && entry.Mode != filemode.Executable && entry.Mode != filemode.Deprecated {
			continue
		}
		if match != nil && !match(name) {
			continue
		}
		id := entry.Hash.String()
		set.Paths[name] = id
		if _, done := set.blobs[id]; done {
			continue
		}
		content, err := readBlob(repo, entry.Hash)
		if err != nil {
			return nil, fmt.Errorf("read %s at %s (%q) in %s: %w", name, hash, rev, repoDir, err)
		}
		set.blobs[id] = content
	}
	return set, nil
}

// ReadFilesAt is ReadFileSetAt for callers that only want path -> content.
// Paths that share a blob share one byte slice; callers must not modify it.
func ReadFilesAt(repoDir, rev string, match func(path string) bool) (map[string][]byte, error) {
	set, err := ReadFileSetAt(repoDir, rev, match)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(set.Paths))
	for path, id := range set.Paths {
		out[path] = set.blobs[id]
	}
	return out, nil
}

func readBlob(repo *gogit.Repository, h plumbing.Hash) ([]byte, error) {
	blob, err := repo.BlobObject(h)
	if err != nil {
		return nil, err
	}
	r, err := blob.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}
