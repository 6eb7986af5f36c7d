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

// FileSet is the set of files of one commit that a match function selected:
// each path mapped to its blob ID. Contents are read on first use and kept,
// once per distinct blob, so a file stored at a thousand paths costs one
// read, and files a caller never looks at cost none. A FileSet is not safe
// for concurrent use.
type FileSet struct {
	// Commit is the full hash the revision resolved to.
	Commit string
	// Paths maps each selected path to the hex ID of its blob.
	Paths map[string]string

	repo  *gogit.Repository
	where string // "<repoDir> at <rev>", for errors
	blobs map[string][]byte
}

// Content returns the content of the file at path; ok is false when the set
// has no such path.
func (s *FileSet) Content(path string) (content []byte, ok bool, err error) {
	id, ok := s.Paths[path]
	if !ok {
		return nil, false, nil
	}
	content, err = s.Blob(id)
	if err != nil {
		return nil, true, fmt.Errorf("read %s in %s: %w", path, s.where, err)
	}
	return content, true, nil
}

// Blob returns the content of the blob with hex ID id. Callers must not
// modify the returned slice: it is shared by every path with that blob.
func (s *FileSet) Blob(id string) ([]byte, error) {
	if b, ok := s.blobs[id]; ok {
		return b, nil
	}
	b, err := readBlob(s.repo, plumbing.NewHash(id))
	if err != nil {
		return nil, fmt.Errorf("read blob %s in %s: %w", id, s.where, err)
	}
	s.blobs[id] = b
	return b, nil
}

// ReadFileSetAt lists the regular files of revision rev (a branch, tag, full
// or short commit hash, or an expression like HEAD~1) in the repository at
// repoDir (or a folder inside it) whose path match accepts; a nil match
// selects every file. Symlinks and submodules are skipped. Only trees are
// read here; blob contents are read when asked for. Errors name the
// repository and the revision.
func ReadFileSetAt(repoDir, rev string, match func(path string) bool) (*FileSet, error) {
	repo, err := openRepository(repoDir)
	if err != nil {
		return nil, err
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
	set := &FileSet{
		Commit: hash.String(),
		Paths:  map[string]string{},
		repo:   repo,
		where:  fmt.Sprintf("%s at %q (%s)", repoDir, rev, hash),
		blobs:  map[string][]byte{},
	}
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
		set.Paths[name] = entry.Hash.String()
	}
	return set, nil
}

// openRepository opens the repository at dir, bare or not, or the one a
// folder inside a worktree belongs to.
func openRepository(dir string) (*gogit.Repository, error) {
	repo, err := gogit.PlainOpen(dir)
	if errors.Is(err, gogit.ErrRepositoryNotExists) {
		repo, err = gogit.PlainOpenWithOptions(dir, &gogit.PlainOpenOptions{DetectDotGit: true})
	}
	if err != nil {
		return nil, fmt.Errorf("open git repository %s: %w", dir, err)
	}
	return repo, nil
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
