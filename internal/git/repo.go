package git

import (
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/bindsync/bindsync/internal/staterepo"
)

// Repo is a bare local repository, optionally tracking a remote. Its
// branches (refs/heads/*) are the remote's as of the last Fetch, or the
// repository's own without a remote. A Repo is safe for concurrent use.
type Repo struct {
	opts  Options
	where string // URL or Dir, for errors
	st    *filesystem.Storage
	repo  *gogit.Repository

	mu    sync.Mutex // serialises ref updates and the pack index
	packs string     // pack names seen at the last reindex (local mode)
	stats stats
	// objects answers Commit's existence checks.
	objects *objectIndex
	// commits are decoded commits, by hash (cachedCommit).
	commitsMu sync.Mutex
	commits   map[plumbing.Hash]*object.Commit
	// loose compresses loose objects into looseBuf (writeLoose), kept
	// from commit to commit: a compressor holds ~1 MB of state.
	looseMu  sync.Mutex
	loose    *zlib.Writer
	looseBuf bytes.Buffer
}

// Open opens the bare repository at o.Dir, creating it when missing. With
// o.URL it is the cache of that remote (origin); Open does not contact the
// remote: the first Fetch clones. Reopening an existing folder (a restart)
// keeps everything it holds.
func Open(ctx context.Context, o Options) (*Repo, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	r := &Repo{opts: o, where: o.where(), objects: newObjectIndex(o.Dir)}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("open %s: create folder %s: %w", r.where, o.Dir, err)
	}
	r.st = filesystem.NewStorage(osfs.New(o.Dir), cache.NewObjectLRUDefault())
	repo, err := gogit.Open(r.st, nil)
	if errors.Is(err, gogit.ErrRepositoryNotExists) {
		repo, err = r.init(o.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open git repository %s: %w", o.Dir, err)
	}
	r.repo = repo
	if err := repairPacks(o.Dir); err != nil {
		return nil, fmt.Errorf("open git repository %s: %w", o.Dir, err)
	}
	if o.URL != "" {
		if err := r.ensureRemote(); err != nil {
			return nil, err
		}
	}
	r.packs = r.packNames()
	return r, nil
}

func (r *Repo) init(dir string) (*gogit.Repository, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("folder %s is not empty and not a bare git repository; refusing to create one in it", dir)
	}
	repo, err := gogit.InitWithOptions(r.st, nil, gogit.InitOptions{DefaultBranch: plumbing.Main})
	if err != nil {
		return nil, fmt.Errorf("create bare repository: %w", err)
	}
	return repo, nil
}

// ensureRemote records (or corrects) origin's URL in the cache's config.
func (r *Repo) ensureRemote() error {
	cfg, err := r.repo.Config()
	if err != nil {
		return fmt.Errorf("read config of cache %s for %s: %w", r.opts.Dir, r.where, err)
	}
	want := &config.RemoteConfig{
		Name:  remoteName,
		URLs:  []string{r.opts.URL},
		Fetch: []config.RefSpec{mirrorRefSpec},
	}
	if have, ok := cfg.Remotes[remoteName]; ok && len(have.URLs) == 1 && have.URLs[0] == r.opts.URL {
		return nil
	}
	cfg.Remotes[remoteName] = want
	if err := r.st.SetConfig(cfg); err != nil {
		return fmt.Errorf("record remote %s in cache %s: %w", r.where, r.opts.Dir, err)
	}
	return nil
}

// Dir is the folder of the local bare repository.
func (r *Repo) Dir() string { return r.opts.Dir }

// URL is the remote's URL ("" without a remote).
func (r *Repo) URL() string { return r.opts.URL }

// Head returns the commit branch points at: the remote's branch as of the
// last Fetch, or the local branch without a remote. It returns
// plumbing.ZeroHash and no error when the branch does not exist.
func (r *Repo) Head(branch string) (plumbing.Hash, error) {
	if err := staterepo.ValidBranch(branch); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("head of %s in %s: %w", branch, r.where, err)
	}
	ref, err := r.st.Reference(branchRef(branch))
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read branch %s in %s: %w", branch, r.where, err)
	}
	return ref.Hash(), nil
}

// knownRef is where the repository keeps the last head it saw of branch
// (SetKnownHead): outside refs/heads/, so neither Fetch nor a push touches it.
func knownRef(branch string) plumbing.ReferenceName {
	return plumbing.ReferenceName("refs/bindsync/known/" + branch)
}

// KnownHead returns the head of branch last recorded with SetKnownHead
// (ZeroHash when none). It survives the branch's deletion on the remote and
// a restart: it tells a remote that lost a branch from one that never had
// it, and its objects stay in the repository, so the branch can be pushed
// back from it.
func (r *Repo) KnownHead(branch string) (plumbing.Hash, error) {
	if err := staterepo.ValidBranch(branch); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("known head of %s in %s: %w", branch, r.where, err)
	}
	ref, err := r.st.Reference(knownRef(branch))
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read %s in %s: %w", knownRef(branch), r.opts.Dir, err)
	}
	return ref.Hash(), nil
}

// SetKnownHead records h as the last head seen of branch (see KnownHead);
// it writes nothing when that is already recorded.
func (r *Repo) SetKnownHead(branch string, h plumbing.Hash) error {
	if cur, err := r.KnownHead(branch); err != nil || cur == h || h.IsZero() {
		return err
	}
	if err := r.st.SetReference(plumbing.NewHashReference(knownRef(branch), h)); err != nil {
		return fmt.Errorf("record %s in %s: %w", knownRef(branch), r.opts.Dir, err)
	}
	return nil
}

// Branches returns every branch whose name starts with prefix (e.g.
// "bindsync/") mapped to its head.
func (r *Repo) Branches(prefix string) (map[string]plumbing.Hash, error) {
	refs, err := r.localBranches()
	if err != nil {
		return nil, err
	}
	out := map[string]plumbing.Hash{}
	for name, h := range refs {
		if strings.HasPrefix(name, prefix) {
			out[name] = h
		}
	}
	return out, nil
}

func (r *Repo) localBranches() (map[string]plumbing.Hash, error) {
	iter, err := r.st.IterReferences()
	if err != nil {
		return nil, fmt.Errorf("list branches in %s: %w", r.where, err)
	}
	out := map[string]plumbing.Hash{}
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() == plumbing.HashReference && ref.Name().IsBranch() {
			out[ref.Name().Short()] = ref.Hash()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list branches in %s: %w", r.where, err)
	}
	return out, nil
}

// Files returns the regular files of commit that match accepts (nil: all)
// as a FileSet whose contents are read lazily, once per distinct blob.
func (r *Repo) Files(commit plumbing.Hash, match func(path string) bool) (*FileSet, error) {
	set := &FileSet{
		Commit: commit.String(),
		Paths:  map[string]string{},
		repo:   r.repo,
		where:  fmt.Sprintf("%s at %s", r.where, commit),
		blobs:  map[string][]byte{},
	}
	if commit.IsZero() {
		return set, nil
	}
	err := r.walkFiles(commit, func(p string, h plumbing.Hash) error {
		if match == nil || match(p) {
			set.Paths[p] = h.String()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return set, nil
}

// Tree returns every regular file of commit as a staterepo.Tree; paths with
// the same blob share one slice. ZeroHash gives an empty tree.
func (r *Repo) Tree(commit plumbing.Hash) (staterepo.Tree, error) {
	out := staterepo.Tree{}
	if commit.IsZero() {
		return out, nil
	}
	blobs := map[plumbing.Hash][]byte{}
	err := r.walkFiles(commit, func(p string, h plumbing.Hash) error {
		b, ok := blobs[h]
		if !ok {
			var err error
			if b, err = readBlob(r.repo, h); err != nil {
				return fmt.Errorf("read %s (blob %s): %w", p, h, err)
			}
			blobs[h] = b
		}
		out[p] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// walkFiles calls fn for every regular file of commit, in tree order.
func (r *Repo) walkFiles(commit plumbing.Hash, fn func(path string, blob plumbing.Hash) error) error {
	c, err := r.commitObject(commit)
	if err != nil {
		return err
	}
	tree, err := r.treeObject(c.TreeHash)
	if err != nil {
		return fmt.Errorf("read tree of %s in %s: %w", commit, r.where, err)
	}
	if err := r.walkTree(tree, "", fn); err != nil {
		return fmt.Errorf("read files of %s in %s: %w", commit, r.where, err)
	}
	return nil
}

func (r *Repo) walkTree(t *object.Tree, dir string, fn func(string, plumbing.Hash) error) error {
	for _, e := range t.Entries {
		p := e.Name
		if dir != "" {
			p = dir + "/" + e.Name
		}
		switch e.Mode {
		case filemode.Dir:
			sub, err := r.treeObject(e.Hash)
			if err != nil {
				return fmt.Errorf("read tree %s (%s): %w", p, e.Hash, err)
			}
			if err := r.walkTree(sub, p, fn); err != nil {
				return err
			}
		case filemode.Regular, filemode.Executable, filemode.Deprecated:
			if err := fn(p, e.Hash); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Repo) commitObject(h plumbing.Hash) (*object.Commit, error) {
	c, err := object.GetCommit(r.st, h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s in %s: %w", h, r.where, err)
	}
	return c, nil
}

// treeOfCommit returns the tree hash of commit h from the first line of
// the commit object, without decoding its message (a commit binding
// thousands of requests carries a trailer for each).
func (r *Repo) treeOfCommit(h plumbing.Hash) (plumbing.Hash, error) {
	obj, err := r.st.EncodedObject(plumbing.CommitObject, h)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read commit %s in %s: %w", h, r.where, err)
	}
	rd, err := obj.Reader()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read commit %s in %s: %w", h, r.where, err)
	}
	defer rd.Close()
	var line [len("tree ") + 2*len(plumbing.ZeroHash)]byte
	if _, err := io.ReadFull(rd, line[:]); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read commit %s in %s: %w", h, r.where, err)
	}
	hex, ok := bytes.CutPrefix(line[:], []byte("tree "))
	if !ok || !plumbing.IsHash(string(hex)) {
		return plumbing.ZeroHash, fmt.Errorf("read commit %s in %s: no tree on its first line", h, r.where)
	}
	return plumbing.NewHash(string(hex)), nil
}

func (r *Repo) treeObject(h plumbing.Hash) (*object.Tree, error) {
	return object.GetTree(r.st, h)
}

// packNames lists the pack files and indexes of the repository, so a
// change made by another process (git push into a local repository, git
// gc) is noticed, whichever of the two files it publishes last.
func (r *Repo) packNames() string {
	m, _ := filepath.Glob(filepath.Join(r.opts.Dir, "objects", "pack", "pack-*"))
	sort.Strings(m)
	return strings.Join(m, "\n")
}

// reindex makes the object store see packs other processes wrote.
func (r *Repo) reindex() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.packNames(); p != r.packs {
		r.st.ObjectStorage.Reindex()
		r.packs = p
	}
}

var storageErrRefChanged = storage.ErrReferenceHasChanged
