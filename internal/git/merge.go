package git

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/bindsync/bindsync/internal/staterepo"
)

// CommitInfo is what a reader of history needs of one commit.
type CommitInfo struct {
	Hash    plumbing.Hash
	Parents []plumbing.Hash
	Tree    plumbing.Hash
	Author  string // "Name <email>"
	When    time.Time
	Message staterepo.Message
	Raw     string // the message as stored
}

func commitInfo(c *object.Commit) CommitInfo {
	return CommitInfo{
		Hash: c.Hash, Parents: append([]plumbing.Hash(nil), c.ParentHashes...), Tree: c.TreeHash,
		Author: c.Author.Name + " <" + c.Author.Email + ">", When: c.Committer.When,
		Message: staterepo.ParseMessage(c.Message), Raw: c.Message,
	}
}

// CommitInfo returns the commit h.
func (r *Repo) CommitInfo(h plumbing.Hash) (CommitInfo, error) {
	c, err := r.commitObject(h)
	if err != nil {
		return CommitInfo{}, fmt.Errorf("read commit %s in %s: %w", short(h), r.where, err)
	}
	return commitInfo(c), nil
}

// FirstParentLog returns the first-parent history of head, newest first, at
// most limit commits (limit <= 0: all): what `git log --first-parent` shows,
// one entry per change of the branch, a merge commit standing for what it
// brought in.
func (r *Repo) FirstParentLog(head plumbing.Hash, limit int) ([]CommitInfo, error) {
	var out []CommitInfo
	for h := head; !h.IsZero() && (limit <= 0 || len(out) < limit); {
		c, err := r.commitObject(h)
		if err != nil {
			return nil, fmt.Errorf("first-parent history of %s in %s: %w", short(head), r.where, err)
		}
		out = append(out, commitInfo(c))
		h = plumbing.ZeroHash
		if len(c.ParentHashes) > 0 {
			h = c.ParentHashes[0]
		}
	}
	return out, nil
}

// MergeCommit writes a merge commit of parents (the first is the branch
// merged into, as git merge writes it) whose tree is the tree of the commit
// treeOf, authored by the Options' identity and signed with its Signer. It
// moves no branch: see Push.
func (r *Repo) MergeCommit(parents []plumbing.Hash, treeOf plumbing.Hash, msg staterepo.Message) (plumbing.Hash, error) {
	if len(parents) < 2 {
		return plumbing.ZeroHash, errors.New("a merge commit needs two parents or more")
	}
	for _, p := range parents {
		if _, err := r.commitObject(p); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("merge commit %q in %s: parent %s: %w", msg.Subject, r.where, short(p), err)
		}
	}
	src, err := r.commitObject(treeOf)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("merge commit %q in %s: %w", msg.Subject, r.where, err)
	}
	sig := object.Signature{Name: r.opts.AuthorName, Email: r.opts.AuthorEmail, When: r.opts.Now()}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg.String(), TreeHash: src.TreeHash,
		ParentHashes: append([]plumbing.Hash(nil), parents...)}
	if r.opts.Signer != nil {
		enc := &plumbing.MemoryObject{}
		if err := c.EncodeWithoutSignature(enc); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("encode merge commit for signing: %w", err)
		}
		rd, err := enc.Reader()
		if err != nil {
			return plumbing.ZeroHash, err
		}
		s, err := r.opts.Signer.Sign(rd)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("sign merge commit: %w", err)
		}
		c.PGPSignature = string(s)
	}
	obj := r.st.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode merge commit: %w", err)
	}
	h, err := r.st.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("write merge commit in %s: %w", r.where, err)
	}
	r.stats.objectsWritten.Add(1)
	r.stats.commits.Add(1)
	return h, nil
}

// Kinds of PathChange.
const (
	PathAdded    = "added"
	PathModified = "modified"
	PathDeleted  = "deleted"
)

// PathChange is one path whose entry differs between two commits' trees.
type PathChange struct {
	Path string
	// Change is PathAdded, PathModified or PathDeleted.
	Change string
	// Regular is false when the entry (the new one; the old one when
	// deleted) is not a regular file: a symlink, a submodule.
	Regular bool
}

// ChangedPaths returns every path whose entry (blob or mode) differs between
// the trees of the commits old and new, sorted by path. Unlike Tree it sees
// symlinks and submodules too, so a caller that vets a change misses none.
func (r *Repo) ChangedPaths(old, new plumbing.Hash) ([]PathChange, error) {
	before, err := r.entries(old)
	if err != nil {
		return nil, fmt.Errorf("changes %s..%s in %s: %w", short(old), short(new), r.where, err)
	}
	after, err := r.entries(new)
	if err != nil {
		return nil, fmt.Errorf("changes %s..%s in %s: %w", short(old), short(new), r.where, err)
	}
	var out []PathChange
	for p, a := range after {
		b, ok := before[p]
		switch {
		case !ok:
			out = append(out, PathChange{Path: p, Change: PathAdded, Regular: a.Mode.IsFile() && a.Mode != filemode.Symlink})
		case a != b:
			out = append(out, PathChange{Path: p, Change: PathModified, Regular: a.Mode.IsFile() && a.Mode != filemode.Symlink})
		}
	}
	for p, b := range before {
		if _, ok := after[p]; !ok {
			out = append(out, PathChange{Path: p, Change: PathDeleted, Regular: b.Mode.IsFile() && b.Mode != filemode.Symlink})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// entries maps every non-directory path of commit's tree to its entry.
func (r *Repo) entries(commit plumbing.Hash) (map[string]object.TreeEntry, error) {
	out := map[string]object.TreeEntry{}
	if commit.IsZero() {
		return out, nil
	}
	c, err := r.commitObject(commit)
	if err != nil {
		return nil, err
	}
	var walk func(h plumbing.Hash, dir string) error
	walk = func(h plumbing.Hash, dir string) error {
		t, err := r.treeObject(h)
		if err != nil {
			return fmt.Errorf("read tree %q (%s): %w", dir, h, err)
		}
		for _, e := range t.Entries {
			p := path.Join(dir, e.Name)
			if e.Mode == filemode.Dir {
				if err := walk(e.Hash, p); err != nil {
					return err
				}
				continue
			}
			out[p] = e
		}
		return nil
	}
	return out, walk(c.TreeHash, "")
}
