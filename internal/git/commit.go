package git

import (
	"fmt"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/bindsync/bindsync/internal/staterepo"
)

// emptyTree is the hash of the tree with no entries.
var emptyTree = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")

// Commit writes tree as one commit on top of parent (ZeroHash: a root
// commit) through object plumbing: every distinct byte slice of tree is
// hashed once (paths that share a backing slice share the work), trees are
// built bottom-up from the sorted paths, and only the objects the store
// lacks are written (a subtree already present is skipped whole). When the
// new root tree equals parent's it writes nothing and returns
// (parent, false, nil). Commit moves no branch: see Push and Publish.
func (r *Repo) Commit(parent plumbing.Hash, tree staterepo.Tree, msg staterepo.Message) (plumbing.Hash, bool, error) {
	b := newBuilder()
	root, err := b.build(tree, "")
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("commit %q on %s in %s: %w", msg.Subject, parent, r.where, err)
	}
	return r.commitTree(parent, root, msg)
}

// CommitDirs is Commit for a change confined to some folders: the new tree
// is parent's with each folder in dirs replaced by the files of files under
// it (a folder with no files is removed). Every path of files must lie in
// one of dirs. Only the changed folders and the trees above them are
// hashed, so its cost follows the size of the change, not of the
// repository.
func (r *Repo) CommitDirs(parent plumbing.Hash, dirs []string, files staterepo.Tree, msg staterepo.Message) (plumbing.Hash, bool, error) {
	h, changed, err := r.commitDirs(parent, dirs, files, msg)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("commit %q on %s in %s: %w", msg.Subject, parent, r.where, err)
	}
	return h, changed, nil
}

func (r *Repo) commitDirs(parent plumbing.Hash, dirs []string, files staterepo.Tree, msg staterepo.Message) (plumbing.Hash, bool, error) {
	b := newBuilder()
	edits := map[string]*builtTree{}
	split := make(map[string]staterepo.Tree, len(dirs))
	for _, d := range dirs {
		if err := validPath(d); err != nil {
			return plumbing.ZeroHash, false, err
		}
		split[d] = staterepo.Tree{}
	}
	for p, content := range files {
		d := owningDir(p, split)
		if d == "" {
			return plumbing.ZeroHash, false, fmt.Errorf("file %s lies outside the folders %v being replaced: %w", p, dirs, ErrInvalidPath)
		}
		split[d][strings.TrimPrefix(p, d+"/")] = content
	}
	for d, sub := range split {
		t, err := b.build(sub, d)
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		edits[d] = t
	}
	base := emptyTree
	if !parent.IsZero() {
		var err error
		if base, err = r.treeOfCommit(parent); err != nil {
			return plumbing.ZeroHash, false, err
		}
	}
	root, err := b.splice(r, base, "", edits)
	if err != nil {
		return plumbing.ZeroHash, false, err
	}
	return r.commitTree(parent, root, msg)
}

// FilesUnder returns the files of tree that lie in one of the folders
// dirs (for CommitDirs, given a whole tree and the folders where it
// differs from the parent's). The result shares tree's slices.
func FilesUnder(tree staterepo.Tree, dirs []string) staterepo.Tree {
	set := make(map[string]bool, len(dirs))
	depths := map[int]bool{} // slashes in a folder's path
	for _, d := range dirs {
		set[d] = true
		depths[strings.Count(d, "/")] = true
	}
	out := staterepo.Tree{}
	for p, b := range tree {
		for k := range depths {
			if i := nthSlash(p, k); i > 0 && set[p[:i]] {
				out[p] = b
				break
			}
		}
	}
	return out
}

// nthSlash returns the index of the (n+1)th slash of p, or -1.
func nthSlash(p string, n int) int {
	i := -1
	for ; n >= 0; n-- {
		j := strings.IndexByte(p[i+1:], '/')
		if j < 0 {
			return -1
		}
		i += 1 + j
	}
	return i
}

// owningDir returns the folder of dirs that holds p ("" when none).
func owningDir(p string, dirs map[string]staterepo.Tree) string {
	for d := path.Dir(p); d != "." && d != "/"; d = path.Dir(d) {
		if _, ok := dirs[d]; ok {
			return d
		}
	}
	return ""
}

// commitTree writes root's missing objects and a commit on parent, unless
// root is parent's tree.
func (r *Repo) commitTree(parent plumbing.Hash, root *builtTree, msg staterepo.Message) (plumbing.Hash, bool, error) {
	parentTree := emptyTree
	var parents []plumbing.Hash
	if !parent.IsZero() {
		var err error
		if parentTree, err = r.treeOfCommit(parent); err != nil {
			return plumbing.ZeroHash, false, err
		}
		parents = []plumbing.Hash{parent}
	}
	if root.hash == parentTree {
		return parent, false, nil
	}
	w := &objectWriter{r: r, present: map[plumbing.Hash]bool{}}
	if err := w.writeTree(root); err != nil {
		return plumbing.ZeroHash, false, err
	}
	now := r.opts.Now()
	sig := object.Signature{Name: r.opts.AuthorName, Email: r.opts.AuthorEmail, When: now}
	c := &object.Commit{
		Author:       sig,
		Committer:    sig,
		Message:      msg.String(),
		TreeHash:     root.hash,
		ParentHashes: parents,
	}
	if r.opts.Signer != nil {
		enc := &plumbing.MemoryObject{}
		if err := c.EncodeWithoutSignature(enc); err != nil {
			return plumbing.ZeroHash, false, fmt.Errorf("encode commit for signing: %w", err)
		}
		rd, err := enc.Reader()
		if err != nil {
			return plumbing.ZeroHash, false, err
		}
		s, err := r.opts.Signer.Sign(rd)
		if err != nil {
			return plumbing.ZeroHash, false, fmt.Errorf("sign commit: %w", err)
		}
		c.PGPSignature = string(s)
	}
	obj := r.st.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("encode commit: %w", err)
	}
	h, err := r.st.SetEncodedObject(obj)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("write commit: %w", err)
	}
	r.stats.objectsWritten.Add(1)
	r.stats.commits.Add(1)
	return h, true, nil
}
