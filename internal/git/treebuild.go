package git

import (
	"bytes"
	"crypto/sha1"
	"fmt"
	"hash"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/bindsync/bindsync/internal/staterepo"
)

// builtTree is a tree hashed in memory, with what it needs to be written.
type builtTree struct {
	hash     plumbing.Hash
	data     []byte       // encoded entries
	subtrees []*builtTree // child trees not known to be stored
	blobs    []blobRef    // child blobs
}

type blobRef struct {
	hash    plumbing.Hash
	content []byte
}

// builder hashes blobs (each distinct slice once) and trees.
type builder struct {
	blobs map[staterepo.Identity]plumbing.Hash // by identity: a tree shares one slice per content
	h     hash.Hash
	buf   bytes.Buffer
	sum   [sha1.Size]byte
}

func newBuilder() *builder {
	return &builder{blobs: map[staterepo.Identity]plumbing.Hash{}, h: sha1.New()}
}

func (b *builder) objectHash(t plumbing.ObjectType, content []byte) plumbing.Hash {
	b.h.Reset()
	var hdr [32]byte
	x := append(hdr[:0], t.Bytes()...)
	x = append(x, ' ')
	x = strconv.AppendInt(x, int64(len(content)), 10)
	x = append(x, 0)
	b.h.Write(x)
	b.h.Write(content)
	var out plumbing.Hash
	copy(out[:], b.h.Sum(b.sum[:0]))
	return out
}

func (b *builder) blobHash(content []byte) plumbing.Hash {
	k := staterepo.SliceIdentity(content)
	if h, ok := b.blobs[k]; ok {
		return h
	}
	h := b.objectHash(plumbing.BlobObject, content)
	b.blobs[k] = h
	return h
}

// openDir is a folder being filled while the sorted paths stream by.
type openDir struct {
	path string
	t    *builtTree
}

// build hashes tree (paths relative to the folder at prefix, which only
// names it in errors) into a tree of builtTrees, bottom-up in one pass over
// the sorted paths. Byte order of full paths is git's tree entry order, so
// entries are appended already sorted.
func (b *builder) build(tree staterepo.Tree, prefix string) (*builtTree, error) {
	paths := tree.Paths()
	for _, p := range paths {
		if err := validPath(p); err != nil {
			return nil, err
		}
		for i := strings.IndexByte(p, '/'); i >= 0; i = nextSlash(p, i) {
			if _, ok := tree[p[:i]]; ok {
				return nil, fmt.Errorf("%s is both a file and a folder: %w", path.Join(prefix, p[:i]), ErrInvalidPath)
			}
		}
	}
	stack := []openDir{{path: "", t: &builtTree{}}}
	var data [][]byte // encoded entries per open dir, parallel to stack
	data = append(data, nil)
	closeTop := func() {
		top := stack[len(stack)-1]
		top.t.data = data[len(data)-1]
		top.t.hash = b.objectHash(plumbing.TreeObject, top.t.data)
		stack, data = stack[:len(stack)-1], data[:len(data)-1]
		parent := stack[len(stack)-1].t
		parent.subtrees = append(parent.subtrees, top.t)
		data[len(data)-1] = appendEntry(data[len(data)-1], filemode.Dir, path.Base(top.path), top.t.hash)
	}
	for _, p := range paths {
		dir, name := "", p
		if i := strings.LastIndexByte(p, '/'); i >= 0 {
			dir, name = p[:i], p[i+1:]
		}
		for top := stack[len(stack)-1].path; top != "" && !(dir == top || strings.HasPrefix(dir, top+"/")); top = stack[len(stack)-1].path {
			closeTop()
		}
		for top := stack[len(stack)-1].path; top != dir; top = stack[len(stack)-1].path {
			next := dir
			if rest := strings.TrimPrefix(dir, top); top != "" {
				rest = rest[1:]
				if i := strings.IndexByte(rest, '/'); i >= 0 {
					next = top + "/" + rest[:i]
				}
			} else if i := strings.IndexByte(dir, '/'); i >= 0 {
				next = dir[:i]
			}
			stack = append(stack, openDir{path: next, t: &builtTree{}})
			data = append(data, nil)
		}
		content := tree[p]
		h := b.blobHash(content)
		top := stack[len(stack)-1].t
		top.blobs = append(top.blobs, blobRef{hash: h, content: content})
		data[len(data)-1] = appendEntry(data[len(data)-1], filemode.Regular, name, h)
	}
	for len(stack) > 1 {
		closeTop()
	}
	root := stack[0].t
	root.data = data[0]
	root.hash = b.objectHash(plumbing.TreeObject, root.data)
	return root, nil
}

func nextSlash(p string, i int) int {
	j := strings.IndexByte(p[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func appendEntry(dst []byte, mode filemode.FileMode, name string, h plumbing.Hash) []byte {
	if mode == filemode.Dir {
		dst = append(dst, "40000 "...)
	} else {
		dst = append(dst, "100644 "...)
	}
	dst = append(dst, name...)
	dst = append(dst, 0)
	return append(dst, h[:]...)
}

// splice returns base (a stored tree, emptyTree for none) with the folders
// in edits (keyed by full path, relative to the repository root; dir is
// base's own path) replaced. An edit that is the empty tree removes the
// folder. Unchanged entries keep their stored hashes without being read.
func (b *builder) splice(r *Repo, base plumbing.Hash, dir string, edits map[string]*builtTree) (*builtTree, error) {
	type entry struct {
		name string
		mode filemode.FileMode
		hash plumbing.Hash
	}
	var entries []entry
	if base != emptyTree {
		t, err := r.treeObject(base)
		if err != nil {
			return nil, fmt.Errorf("read tree %q (%s): %w", dir, base, err)
		}
		for _, e := range t.Entries {
			entries = append(entries, entry{e.Name, e.Mode, e.Hash})
		}
	}
	// group the edits by the entry of this folder they fall in
	groups := map[string]map[string]*builtTree{}
	for p, t := range edits {
		rel := p
		if dir != "" {
			rel = strings.TrimPrefix(p, dir+"/")
		}
		name, _, _ := strings.Cut(rel, "/")
		if groups[name] == nil {
			groups[name] = map[string]*builtTree{}
		}
		groups[name][p] = t
	}
	out := &builtTree{}
	index := map[string]int{}
	for i, e := range entries {
		index[e.name] = i
	}
	for name, g := range groups {
		full := path.Join(dir, name)
		var sub *builtTree
		if t, ok := g[full]; ok {
			sub = t
		} else {
			subBase := emptyTree
			if i, ok := index[name]; ok && entries[i].mode == filemode.Dir {
				subBase = entries[i].hash
			}
			var err error
			if sub, err = b.splice(r, subBase, full, g); err != nil {
				return nil, err
			}
		}
		i, exists := index[name]
		switch {
		case sub.hash == emptyTree && exists:
			entries[i].name = "" // removed below
		case sub.hash == emptyTree:
		case exists:
			entries[i] = entry{name, filemode.Dir, sub.hash}
			out.subtrees = append(out.subtrees, sub)
		default:
			entries = append(entries, entry{name, filemode.Dir, sub.hash})
			index[name] = len(entries) - 1
			out.subtrees = append(out.subtrees, sub)
		}
	}
	sort.Slice(entries, func(i, j int) bool {
		return entryKey(entries[i].name, entries[i].mode) < entryKey(entries[j].name, entries[j].mode)
	})
	for _, e := range entries {
		if e.name != "" {
			out.data = appendEntry(out.data, e.mode, e.name, e.hash)
		}
	}
	out.hash = b.objectHash(plumbing.TreeObject, out.data)
	return out, nil
}

// entryKey is what git sorts tree entries by: the name, with a trailing
// slash for folders.
func entryKey(name string, mode filemode.FileMode) string {
	if mode == filemode.Dir {
		return name + "/"
	}
	return name
}

// validPath accepts the slash-separated relative paths git can store.
func validPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return fmt.Errorf("path %q is empty, absolute or ends in a slash: %w", p, ErrInvalidPath)
	}
	for rest := p; rest != ""; {
		seg := rest
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			seg, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		switch {
		case seg == "", seg == ".", seg == "..", strings.EqualFold(seg, ".git"):
			return fmt.Errorf("path %q has a segment git refuses (%q): %w", p, seg, ErrInvalidPath)
		case strings.IndexByte(seg, 0) >= 0:
			return fmt.Errorf("path %q has a NUL byte: %w", p, ErrInvalidPath)
		}
	}
	return nil
}
