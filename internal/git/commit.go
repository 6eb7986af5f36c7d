package git

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unsafe"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
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

// blobKey identifies a byte slice by its backing array and length:
// staterepo.Tree shares one slice between every path with the same content.
type blobKey struct {
	p *byte
	n int
}

// builder hashes blobs (each distinct slice once) and trees.
type builder struct {
	blobs map[blobKey]plumbing.Hash
	h     hash.Hash
	buf   bytes.Buffer
	sum   [sha1.Size]byte
}

func newBuilder() *builder {
	return &builder{blobs: map[blobKey]plumbing.Hash{}, h: sha1.New()}
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
	k := blobKey{unsafe.SliceData(content), len(content)}
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

// objectWriter writes the objects of a builtTree the store lacks. It
// collects them children first and then stores them: as loose objects when
// they are few, else as one pack (one file, not thousands). Either way a
// stored tree always has its children stored, so a tree found in the store
// is skipped with everything under it.
type objectWriter struct {
	r       *Repo
	present map[plumbing.Hash]bool
	pending []pendingObject
}

type pendingObject struct {
	typ     plumbing.ObjectType
	content []byte
	hash    plumbing.Hash
}

// looseMax is the most objects a commit writes loose; more go into a pack.
const looseMax = 64

func (w *objectWriter) has(h plumbing.Hash) bool {
	if w.present[h] {
		return true
	}
	if w.r.objects.has(h) {
		w.present[h] = true
		return true
	}
	return false
}

func (w *objectWriter) add(t plumbing.ObjectType, content []byte, h plumbing.Hash) {
	w.present[h] = true
	w.pending = append(w.pending, pendingObject{t, content, h})
}

func (w *objectWriter) collect(t *builtTree) {
	if w.has(t.hash) {
		return
	}
	for _, b := range t.blobs {
		if !w.has(b.hash) {
			w.add(plumbing.BlobObject, b.content, b.hash)
		}
	}
	for _, s := range t.subtrees {
		w.collect(s)
	}
	w.add(plumbing.TreeObject, t.data, t.hash)
}

func (w *objectWriter) writeTree(t *builtTree) error {
	w.r.objects.refresh()
	w.collect(t)
	if len(w.pending) > looseMax {
		return w.writePack()
	}
	for _, o := range w.pending {
		if err := w.writeLoose(o); err != nil {
			return err
		}
	}
	return nil
}

func (w *objectWriter) writeLoose(o pendingObject) error {
	r := w.r
	r.looseMu.Lock()
	defer r.looseMu.Unlock()
	if r.loose == nil {
		r.loose, _ = zlib.NewWriterLevel(nil, zlib.BestSpeed)
	}
	if err := writeLooseFile(r.opts.Dir, o, r.loose, &r.looseBuf); err != nil {
		return fmt.Errorf("write %s %s: %w", o.typ, o.hash, err)
	}
	r.stats.objectsWritten.Add(1)
	return nil
}

// writeLooseFile stores o as git stores a loose object: the zlib stream
// of "<type> <size>\x00" and the content, at objects/<2 hex>/<38 hex>,
// read-only. It is written whole to a temporary file in that folder and
// renamed into place, so a reader sees the object complete or not at all;
// the hash is the one the tree builder computed. Like the store's own
// writer it used before, it does not fsync: after a crash of the machine
// (not of the process) an object of an unpushed commit may be lost, and
// the remote, which push makes the source of truth, is not affected.
// That is four system calls per object (open, write, close, rename).
func writeLooseFile(dir string, o pendingObject, zw *zlib.Writer, buf *bytes.Buffer) error {
	buf.Reset()
	zw.Reset(buf)
	hdr := make([]byte, 0, 32)
	hdr = append(append(append(hdr, o.typ.String()...), ' '), strconv.Itoa(len(o.content))...)
	hdr = append(hdr, 0)
	if _, err := zw.Write(hdr); err != nil {
		return err
	}
	if _, err := zw.Write(o.content); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	hex := o.hash.String()
	folder := filepath.Join(dir, "objects", hex[:2])
	final := filepath.Join(folder, hex[2:])
	tmp := filepath.Join(folder, "tmp_obj_"+hex[2:10]+"_"+strconv.FormatUint(rand.Uint64(), 36))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(folder, 0o755); err == nil {
			f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
		}
	}
	if err != nil {
		return err
	}
	_, err = f.Write(buf.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, final)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// writePack stores the pending objects as one pack file and its index
// (no deltas; small objects stored, larger ones compressed fast), then
// makes the store see it.
func (w *objectWriter) writePack() error {
	if err := writePackFiles(filepath.Join(w.r.opts.Dir, "objects", "pack"), w.pending); err != nil {
		return fmt.Errorf("write pack of %d objects: %w", len(w.pending), err)
	}
	w.r.reindex()
	w.r.stats.objectsWritten.Add(int64(len(w.pending)))
	return nil
}

// compressMin is the size from which pack entries are compressed; smaller
// ones (trees, kustomizations) are stored, which costs little space and
// saves most of the time.
const compressMin = 4 << 10

func writePackFiles(dir string, objs []pendingObject) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "tmp_pack_")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	type idxEntry struct {
		hash   plumbing.Hash
		crc    uint32
		offset uint64
	}
	entries := make([]idxEntry, len(objs))
	bw := bufio.NewWriterSize(tmp, 1<<20)
	sum := sha1.New()
	crc := crc32.NewIEEE()
	var offset uint64
	counted := &countingWriter{}
	out := io.MultiWriter(bw, sum, counted)
	var hdr [12]byte
	copy(hdr[:], "PACK")
	binary.BigEndian.PutUint32(hdr[4:], 2)
	binary.BigEndian.PutUint32(hdr[8:], uint32(len(objs)))
	if _, err := out.Write(hdr[:]); err != nil {
		return err
	}
	offset = counted.n
	zw, _ := zlib.NewWriterLevel(io.Discard, zlib.BestSpeed)
	zs, _ := zlib.NewWriterLevel(io.Discard, zlib.NoCompression)
	for i, o := range objs {
		crc.Reset()
		obj := io.MultiWriter(out, crc)
		if _, err := obj.Write(packObjectHeader(o.typ, len(o.content))); err != nil {
			return err
		}
		z := zs
		if len(o.content) >= compressMin {
			z = zw
		}
		z.Reset(obj)
		if _, err := z.Write(o.content); err != nil {
			return err
		}
		if err := z.Close(); err != nil {
			return err
		}
		entries[i] = idxEntry{o.hash, crc.Sum32(), offset}
		offset = counted.n
	}
	packSum := sum.Sum(nil)
	if _, err := bw.Write(packSum); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}

	// the index (version 2): fan-out, sorted names, CRCs, offsets
	sort.Slice(entries, func(i, j int) bool { return bytes.Compare(entries[i].hash[:], entries[j].hash[:]) < 0 })
	var idx bytes.Buffer
	idx.Write([]byte{0xff, 't', 'O', 'c', 0, 0, 0, 2})
	var fan [256]uint32
	for _, e := range entries {
		fan[e.hash[0]]++
	}
	var total uint32
	for i := range fan {
		total += fan[i]
		idx.Write(binary.BigEndian.AppendUint32(nil, total))
	}
	for _, e := range entries {
		idx.Write(e.hash[:])
	}
	for _, e := range entries {
		idx.Write(binary.BigEndian.AppendUint32(nil, e.crc))
	}
	var large []uint64
	for _, e := range entries {
		if e.offset < 1<<31 {
			idx.Write(binary.BigEndian.AppendUint32(nil, uint32(e.offset)))
			continue
		}
		idx.Write(binary.BigEndian.AppendUint32(nil, 1<<31|uint32(len(large))))
		large = append(large, e.offset)
	}
	for _, o := range large {
		idx.Write(binary.BigEndian.AppendUint64(nil, o))
	}
	idx.Write(packSum)
	idxSum := sha1.Sum(idx.Bytes())
	idx.Write(idxSum[:])

	// The index is published before the pack. A reader lists packs by
	// their .pack file and needs its index to read any object at all, so a
	// crash between the two renames must leave an index without a pack
	// (ignored, and removed by the next Open), never a pack without an
	// index (every later read would fail).
	base := filepath.Join(dir, fmt.Sprintf("pack-%x", packSum))
	tmpIdx := base + ".idx.tmp"
	if err := os.WriteFile(tmpIdx, idx.Bytes(), 0o444); err != nil {
		return err
	}
	if err := os.Rename(tmpIdx, base+".idx"); err != nil {
		_ = os.Remove(tmpIdx)
		return err
	}
	if err := os.Rename(tmp.Name(), base+".pack"); err != nil {
		_ = os.Remove(base + ".idx")
		return err
	}
	return nil
}

type countingWriter struct{ n uint64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += uint64(len(p)); return len(p), nil }

// packObjectHeader is the type and size header of an object in a pack.
func packObjectHeader(t plumbing.ObjectType, size int) []byte {
	b := []byte{byte(t)<<4 | byte(size&0x0f)}
	size >>= 4
	for size > 0 {
		b[len(b)-1] |= 0x80
		b = append(b, byte(size&0x7f))
		size >>= 7
	}
	return b
}
