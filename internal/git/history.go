package git

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
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
	c, err := r.commitObject(head)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("find trailer %s: %w", key, err)
	}
	seen := 0
	var found *object.Commit
	iter := object.NewCommitIterCTime(c, nil, nil)
	defer iter.Close()
	err = iter.ForEach(func(c *object.Commit) error {
		if limit > 0 && seen >= limit {
			return errStop
		}
		seen++
		if hasTrailer(c.Message, key, value) {
			found = c
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return plumbing.ZeroHash, false, fmt.Errorf("find trailer %s: %s in history of %s in %s: %w", key, value, short(head), r.where, err)
	}
	if found == nil {
		return plumbing.ZeroHash, false, nil
	}
	return found.Hash, true, nil
}

var errStop = errors.New("stop")

func hasTrailer(message, key, value string) bool {
	if !strings.Contains(message, value) {
		return false // most commits: no parse of a message that cannot match
	}
	for _, t := range ParseMessage(message).Trailers {
		if strings.EqualFold(t.Key, key) && t.Value == value {
			return true
		}
	}
	for _, line := range strings.Split(message, "\n") {
		line = strings.TrimLeft(strings.TrimSpace(line), "*- ")
		if t, ok := parseTrailerLine(line); ok && strings.EqualFold(t.Key, key) && t.Value == value {
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
