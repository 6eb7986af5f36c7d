// Package source owns the agent's view of the state repository: it asks the
// remote for the head of one branch (ls-remote) and, only when that head
// moved, fetches that one commit (shallow, single branch) into memory and
// exposes its files as an fs.FS limited to the folder the agent builds.
//
// Nothing is written to disk: every fetch clones into a fresh in-memory
// store, so a force-pushed or rewritten branch is simply a new head, and
// the previous snapshot stays in use until the new one is complete.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sync"
	"sync/atomic"
	"testing/fstest"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Auth says where the credentials are: the one credential type of every
// bindsync command (git.Auth), read from files on every call, so a rotated
// token is picked up without a restart.
type Auth = git.Auth

// Options configure a Source.
type Options struct {
	// URL of the state repository: file://, http(s):// or ssh://.
	URL string
	// Branch to follow (default main).
	Branch string
	// Dir is the folder of the repository the agent builds
	// (clusters/<cluster>/app): only files under it are kept in memory.
	// Empty keeps the whole tree.
	Dir  string
	Auth Auth
	// Verifier, when set, checks the head commit before its files are
	// exposed; its error is wrapped in ErrSignatureInvalid.
	Verifier Verifier
	// MaxFetchBytes bounds the bytes a fetch reads from the remote
	// (default DefaultMaxFetchBytes); MaxFileBytes one file under Dir
	// (DefaultMaxFileBytes) and MaxFolderBytes all of them
	// (DefaultMaxFolderBytes). A commit over any is refused with
	// ErrTooLarge before its files reach the build.
	MaxFetchBytes, MaxFileBytes, MaxFolderBytes int64
}

// Verifier checks a commit's signature.
type Verifier interface {
	Verify(c *object.Commit) error
}

var (
	// ErrUnavailable wraps every failure to reach or read the remote.
	ErrUnavailable = errors.New("state repository unavailable")
	// ErrSignatureInvalid marks a head commit that is not signed by a
	// trusted key; its files are not exposed.
	ErrSignatureInvalid = errors.New("head commit signature invalid")
	// ErrBranchNotFound marks a remote without the branch.
	ErrBranchNotFound = errors.New("branch not found")
)

// Snapshot is one commit's files under Options.Dir.
type Snapshot struct {
	Revision staterepo.Revision
	// FS holds the files under Options.Dir, with their repository paths.
	FS fstest.MapFS
	// Message is the head commit's message (its trailers say what the
	// commit approves).
	Message string
}

// Source follows one branch of one remote. It is safe for concurrent use.
type Source struct {
	opts Options

	mu   sync.Mutex
	last *Snapshot
	// rejected is a head whose signature failed, and why: it is not fetched
	// again until the branch moves.
	rejected    plumbing.Hash
	rejectedErr error

	lists, fetches atomic.Int64
}

// New checks o and returns a Source.
func New(o Options) (*Source, error) {
	if o.URL == "" {
		return nil, errors.New("source: URL is required")
	}
	if o.Branch == "" {
		o.Branch = "main"
	}
	if o.MaxFetchBytes <= 0 {
		o.MaxFetchBytes = DefaultMaxFetchBytes
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = DefaultMaxFileBytes
	}
	if o.MaxFolderBytes <= 0 {
		o.MaxFolderBytes = DefaultMaxFolderBytes
	}
	if err := git.CheckURL(o.URL); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if _, err := transport.NewEndpoint(o.URL); err != nil {
		return nil, fmt.Errorf("source: URL %q: %w", git.RedactURL(o.URL), err)
	}
	if err := o.Auth.Check(o.URL); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	return &Source{opts: o}, nil
}

// Stats returns how many ls-remote calls and fetches the Source made.
func (s *Source) Stats() (lists, fetches int64) { return s.lists.Load(), s.fetches.Load() }

// Head asks the remote for the branch's head (ls-remote), without fetching.
func (s *Source) Head(ctx context.Context) (plumbing.Hash, error) {
	auth, err := s.auth()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	s.lists.Add(1)
	remote := gogit.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{s.opts.URL}})
	refs, err := remote.ListContext(ctx, &gogit.ListOptions{Auth: auth})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("%w: ls-remote %s: %v", ErrUnavailable, git.RedactURL(s.opts.URL), git.ExplainSSHRefusal(err, s.opts.Auth.SSHKeyFile))
	}
	want := plumbing.NewBranchReferenceName(s.opts.Branch)
	for _, r := range refs {
		if r.Name() == want {
			return r.Hash(), nil
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("%w: %s: %w %s", ErrUnavailable, git.RedactURL(s.opts.URL), ErrBranchNotFound, s.opts.Branch)
}

// Get returns the snapshot of the branch's head. It asks the remote for the
// head first and fetches only when it moved since the last successful Get
// (fetched says whether it did). On any error the previous snapshot stays
// current, and nothing is returned: callers keep what they applied.
func (s *Source) Get(ctx context.Context) (snap *Snapshot, fetched bool, err error) {
	head, err := s.Head(ctx)
	if err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	last, rejected, rejectedErr := s.last, s.rejected, s.rejectedErr
	s.mu.Unlock()
	if last != nil && last.Revision.Hash == head {
		return last, false, nil
	}
	if rejectedErr != nil && rejected == head {
		return nil, false, rejectedErr
	}
	snap, err = s.fetch(ctx, head)
	if errors.Is(err, ErrSignatureInvalid) || errors.Is(err, ErrTooLarge) {
		s.mu.Lock()
		s.rejected, s.rejectedErr = head, err
		s.mu.Unlock()
	}
	if err != nil {
		return nil, true, err
	}
	s.mu.Lock()
	s.last = snap
	s.mu.Unlock()
	return snap, true, nil
}

// fetch clones the branch at depth 1 into memory and reads head's files.
func (s *Source) fetch(ctx context.Context, head plumbing.Hash) (*Snapshot, error) {
	auth, err := s.auth()
	if err != nil {
		return nil, err
	}
	s.fetches.Add(1)
	st := newBoundedStorage(s.opts.MaxFetchBytes)
	ref := plumbing.NewBranchReferenceName(s.opts.Branch)
	repo, err := gogit.CloneContext(ctx, st, nil, &gogit.CloneOptions{
		URL: s.opts.URL, Auth: auth, ReferenceName: ref, SingleBranch: true,
		Depth: 1, NoCheckout: true, Tags: gogit.NoTags,
	})
	if errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("fetch %s %s: %w", git.RedactURL(s.opts.URL), s.opts.Branch, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: fetch %s %s: %v", ErrUnavailable, git.RedactURL(s.opts.URL), s.opts.Branch, git.ExplainSSHRefusal(err, s.opts.Auth.SSHKeyFile))
	}
	r, err := repo.Reference(ref, true)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch %s %s: %v", ErrUnavailable, git.RedactURL(s.opts.URL), s.opts.Branch, err)
	}
	// The branch may have moved between ls-remote and the clone: use what
	// was cloned, it is the newer head.
	commit, err := repo.CommitObject(r.Hash())
	if err != nil {
		return nil, fmt.Errorf("%w: read commit %s: %v", ErrUnavailable, r.Hash(), err)
	}
	rev := staterepo.Revision{Branch: s.opts.Branch, Hash: commit.Hash}
	if s.opts.Verifier != nil {
		if err := s.opts.Verifier.Verify(commit); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrSignatureInvalid, rev, err)
		}
	}
	files, err := readTree(commit, s.opts.Dir, s.opts.MaxFileBytes, s.opts.MaxFolderBytes)
	if errors.Is(err, ErrTooLarge) {
		return nil, fmt.Errorf("read tree of %s: %w", rev, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read tree of %s: %v", ErrUnavailable, rev, err)
	}
	return &Snapshot{Revision: rev, FS: files, Message: commit.Message}, nil
}

// Messages returns the messages of up to depth commits of the branch's
// history from rev, newest first (by committer time, all parents). It
// fetches that history afresh, into memory, and is meant for the rare
// question a head commit alone cannot answer (see the agent's schema
// rollback check). ErrUnavailable wraps every failure; a branch that moved
// past rev is read from its new head, as long as rev is within depth.
func (s *Source) Messages(ctx context.Context, rev staterepo.Revision, depth int) ([]string, error) {
	auth, err := s.auth()
	if err != nil {
		return nil, err
	}
	s.fetches.Add(1)
	repo, err := gogit.CloneContext(ctx, newBoundedStorage(s.opts.MaxFetchBytes), nil, &gogit.CloneOptions{
		URL: s.opts.URL, Auth: auth, ReferenceName: plumbing.NewBranchReferenceName(s.opts.Branch), SingleBranch: true,
		Depth: depth, NoCheckout: true, Tags: gogit.NoTags,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: fetch history of %s %s: %v", ErrUnavailable, git.RedactURL(s.opts.URL), s.opts.Branch, git.ExplainSSHRefusal(err, s.opts.Auth.SSHKeyFile))
	}
	iter, err := repo.Log(&gogit.LogOptions{From: rev.Hash, Order: gogit.LogOrderCommitterTime})
	if err != nil {
		return nil, fmt.Errorf("%w: history of %s: %v", ErrUnavailable, rev, err)
	}
	defer iter.Close()
	var out []string
	for len(out) < depth {
		c, err := iter.Next()
		if errors.Is(err, io.EOF) || errors.Is(err, plumbing.ErrObjectNotFound) {
			break // the shallow history ends here
		}
		if err != nil {
			return nil, fmt.Errorf("%w: history of %s: %v", ErrUnavailable, rev, err)
		}
		out = append(out, c.Message)
	}
	return out, nil
}

// readTree reads the files of commit under dir into memory. Symlinks and
// submodules are left out: the build sees regular files only. A file over
// maxFile bytes, or files over maxFolder bytes in all, are refused
// (ErrTooLarge) by their sizes, before they are read.
func readTree(commit *object.Commit, dir string, maxFile, maxFolder int64) (fstest.MapFS, error) {
	tree, err := commit.Tree()
	if err != nil {
		return nil, err
	}
	out := fstest.MapFS{}
	if dir != "" && dir != "." {
		sub, err := tree.Tree(dir)
		if errors.Is(err, object.ErrDirectoryNotFound) {
			return out, nil // an absent folder is an empty snapshot; the build says so
		}
		if err != nil {
			return nil, err
		}
		tree = sub
	}
	walker := object.NewTreeWalker(tree, true, nil)
	defer walker.Close()
	var total int64
	for {
		name, entry, err := walker.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if !entry.Mode.IsFile() || entry.Mode == 0o120000 {
			continue
		}
		blob, err := tree.TreeEntryFile(&entry)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if blob.Size > maxFile {
			return nil, fmt.Errorf("%s/%s: %d bytes, more than %d: %w", dir, name, blob.Size, maxFile, ErrTooLarge)
		}
		if total += blob.Size; total > maxFolder {
			return nil, fmt.Errorf("%s: more than %d bytes of files: %w", dir, maxFolder, ErrTooLarge)
		}
		data, err := blob.Contents()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		p := name
		if dir != "" && dir != "." {
			p = path.Join(dir, name)
		}
		out[p] = &fstest.MapFile{Data: []byte(data), Mode: fs.FileMode(0o644)}
	}
	return out, nil
}

// auth builds the transport auth from the files, per call.
func (s *Source) auth() (transport.AuthMethod, error) {
	auth, err := s.opts.Auth.Method(s.opts.URL)
	if err != nil {
		return nil, fmt.Errorf("%w: credentials: %v", ErrUnavailable, err)
	}
	return auth, nil
}
