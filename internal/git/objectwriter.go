package git

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"github.com/go-git/go-git/v5/plumbing"
)

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
