package git

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/emirpasic/gods/trees/binaryheap"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/bindsync/bindsync/internal/staterepo"
)

// FindTrailer looks through the history of head, newest first, up to limit
// commits (limit <= 0: no bound), for the first commit that carries the
// trailer key: value. It follows every parent, so a commit brought in by a
// merge commit counts; a line "key: value" anywhere in a message counts
// too, so a squash whose message quotes the squashed commits (indented, as
// git merge --squash writes it, or as a forge's bullet list) is found. A
// rebased commit keeps its message and is found like any other.
func (r *Repo) FindTrailer(head plumbing.Hash, key, value string, limit int) (plumbing.Hash, bool, error) {
	if head.IsZero() {
		return plumbing.ZeroHash, false, nil
	}
	c, err := r.cachedCommit(head)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("find trailer %s: %w", key, err)
	}
	seen := 0
	var found *object.Commit
	err = r.walkCTime(c, func(c *object.Commit) bool {
		if limit > 0 && seen >= limit {
			return false
		}
		seen++
		if hasTrailer(c.Message, key, value) {
			found = c
			return false
		}
		return true
	})
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("find trailer %s: %s in history of %s in %s: %w", key, value, short(head), r.where, err)
	}
	if found == nil {
		return plumbing.ZeroHash, false, nil
	}
	return found.Hash, true, nil
}

// CommitMessage returns the parsed message of commit (subject, body,
// trailers), through the commit cache.
func (r *Repo) CommitMessage(commit plumbing.Hash) (staterepo.Message, error) {
	c, err := r.cachedCommit(commit)
	if err != nil {
		return staterepo.Message{}, err
	}
	return staterepo.ParseMessage(c.Message), nil
}

// walkCTime visits the history of c, every commit once, newest committer
// time first, as object.NewCommitIterCTime does (the same heap, the same
// order), until fn returns false. Commits are read through the commit
// cache: a commit never changes, and the backend walks the same history
// on every reconcile that finds a request main does not hold.
func (r *Repo) walkCTime(c *object.Commit, fn func(*object.Commit) bool) error {
	seen := map[plumbing.Hash]bool{}
	h := binaryheap.NewWith(func(a, b interface{}) int {
		if a.(*object.Commit).Committer.When.Before(b.(*object.Commit).Committer.When) {
			return 1
		}
		return -1
	})
	h.Push(c)
	for {
		x, ok := h.Pop()
		if !ok {
			return nil
		}
		c := x.(*object.Commit)
		if seen[c.Hash] {
			continue
		}
		seen[c.Hash] = true
		for _, p := range c.ParentHashes {
			if seen[p] {
				continue
			}
			pc, err := r.cachedCommit(p)
			if err != nil {
				return err
			}
			h.Push(pc)
		}
		if !fn(c) {
			return nil
		}
	}
}

// maxCachedCommits bounds the commit cache; when full it starts again.
const maxCachedCommits = 4096

// cachedCommit returns commit h, decoded once.
func (r *Repo) cachedCommit(h plumbing.Hash) (*object.Commit, error) {
	r.commitsMu.Lock()
	c, ok := r.commits[h]
	r.commitsMu.Unlock()
	if ok {
		return c, nil
	}
	c, err := r.commitObject(h)
	if err != nil {
		return nil, err
	}
	r.commitsMu.Lock()
	defer r.commitsMu.Unlock()
	if r.commits == nil || len(r.commits) >= maxCachedCommits {
		r.commits = map[plumbing.Hash]*object.Commit{}
	}
	r.commits[h] = c
	return c, nil
}

func hasTrailer(message, key, value string) bool {
	if !strings.Contains(message, value) {
		return false // most commits: no parse of a message that cannot match
	}
	for _, t := range staterepo.ParseMessage(message).Trailers {
		if strings.EqualFold(t.Key, key) && t.Value == value {
			return true
		}
	}
	for _, line := range strings.Split(message, "\n") {
		line = strings.TrimLeft(strings.TrimSpace(line), "*- ")
		if t, ok := staterepo.ParseTrailerLine(line); ok && strings.EqualFold(t.Key, key) && t.Value == value {
			return true
		}
	}
	return false
}

// ChangedDirs lists the folders directly under prefix (e.g. "clusters/c1"
// for prefix "clusters") whose subtree differs between the commits old and
// new, added and removed ones included, sorted. It compares tree hashes, so
// an unchanged folder is skipped without being read. old == ZeroHash lists
// every folder of new.
func (r *Repo) ChangedDirs(old, new plumbing.Hash, prefix string) ([]string, error) {
	prefix = strings.Trim(prefix, "/")
	a, err := r.subtreeEntries(old, prefix)
	if err != nil {
		return nil, err
	}
	b, err := r.subtreeEntries(new, prefix)
	if err != nil {
		return nil, err
	}
	var out []string
	for name, h := range b {
		if a[name] != h {
			out = append(out, path.Join(prefix, name))
		}
	}
	for name := range a {
		if _, ok := b[name]; !ok {
			out = append(out, path.Join(prefix, name))
		}
	}
	sort.Strings(out)
	return out, nil
}

// subtreeEntries returns the folders of the tree at prefix in commit.
func (r *Repo) subtreeEntries(commit plumbing.Hash, prefix string) (map[string]plumbing.Hash, error) {
	out := map[string]plumbing.Hash{}
	if commit.IsZero() {
		return out, nil
	}
	c, err := r.commitObject(commit)
	if err != nil {
		return nil, fmt.Errorf("changed folders: %w", err)
	}
	h := c.TreeHash
	if prefix != "" {
		for _, seg := range strings.Split(prefix, "/") {
			t, err := r.treeObject(h)
			if err != nil {
				return nil, fmt.Errorf("changed folders: read tree of %s in %s: %w", short(commit), r.where, err)
			}
			e, err := t.FindEntry(seg)
			if errors.Is(err, object.ErrEntryNotFound) || (err == nil && e.Mode != filemode.Dir) {
				return out, nil
			}
			if err != nil {
				return nil, fmt.Errorf("changed folders: %s in %s at %s: %w", prefix, r.where, short(commit), err)
			}
			h = e.Hash
		}
	}
	t, err := r.treeObject(h)
	if err != nil {
		return nil, fmt.Errorf("changed folders: read %s at %s in %s: %w", prefix, short(commit), r.where, err)
	}
	for _, e := range t.Entries {
		if e.Mode == filemode.Dir {
			out[e.Name] = e.Hash
		}
	}
	return out, nil
}

// DirsMatch reports whether, in commit, each folder of dirs holds exactly
// the files of files under it (paths relative to the repository root; a
// folder with no files must be absent). Only the folders' tree hashes are
// compared: files is hashed in memory, commit's trees along each folder's
// path are read, no blob is. It lets a caller find that a commit already
// holds what it would write, at the cost of the change, not of the tree.
func (r *Repo) DirsMatch(commit plumbing.Hash, dirs []string, files staterepo.Tree) (bool, error) {
	b := newBuilder()
	for _, d := range dirs {
		if err := validPath(d); err != nil {
			return false, err
		}
		sub := staterepo.Tree{}
		for p, content := range files {
			if rest, ok := strings.CutPrefix(p, d+"/"); ok {
				sub[rest] = content
			}
		}
		want := emptyTree
		if len(sub) > 0 {
			t, err := b.build(sub, d)
			if err != nil {
				return false, err
			}
			want = t.hash
		}
		parent, name := path.Split(d)
		have, err := r.subtreeEntries(commit, strings.TrimSuffix(parent, "/"))
		if err != nil {
			return false, err
		}
		got, ok := have[name]
		if !ok {
			got = emptyTree
		}
		if got != want {
			return false, nil
		}
	}
	return true, nil
}

// IsAncestor reports whether ancestor is in the history of head (head
// itself included), looking at most limit commits back (limit <= 0: no
// bound); an ancestor further back than limit is reported as not one.
func (r *Repo) IsAncestor(ancestor, head plumbing.Hash, limit int) (bool, error) {
	if ancestor.IsZero() || head.IsZero() {
		return false, nil
	}
	c, err := r.cachedCommit(head)
	if err != nil {
		return false, fmt.Errorf("is %s an ancestor of %s: %w", short(ancestor), short(head), err)
	}
	seen, found := 0, false
	err = r.walkCTime(c, func(c *object.Commit) bool {
		if limit > 0 && seen >= limit {
			return false
		}
		seen++
		found = c.Hash == ancestor
		return !found
	})
	if err != nil {
		return false, fmt.Errorf("is %s an ancestor of %s in %s: %w", short(ancestor), short(head), r.where, err)
	}
	return found, nil
}
