package git

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
)

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

// writePackFiles writes objs as one pack and its version-2 index into dir
// and publishes them, the index first.
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
	entries, packSum, err := writePackData(tmp, objs)
	if err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return publishPack(dir, tmp.Name(), encodeIndex(entries, packSum), packSum)
}

// idxEntry is what the index records of one packed object.
type idxEntry struct {
	hash   plumbing.Hash
	crc    uint32
	offset uint64
}

// writePackData writes the pack stream of objs to w: the header, each
// object (stored below compressMin, compressed fast from it) and the
// trailing checksum, which it returns with each object's index entry.
func writePackData(w io.Writer, objs []pendingObject) ([]idxEntry, []byte, error) {
	entries := make([]idxEntry, len(objs))
	bw := bufio.NewWriterSize(w, 1<<20)
	sum := sha1.New()
	crc := crc32.NewIEEE()
	counted := &countingWriter{}
	out := io.MultiWriter(bw, sum, counted)
	var hdr [12]byte
	copy(hdr[:], "PACK")
	binary.BigEndian.PutUint32(hdr[4:], 2)
	binary.BigEndian.PutUint32(hdr[8:], uint32(len(objs)))
	if _, err := out.Write(hdr[:]); err != nil {
		return nil, nil, err
	}
	offset := counted.n
	zw, _ := zlib.NewWriterLevel(io.Discard, zlib.BestSpeed)
	zs, _ := zlib.NewWriterLevel(io.Discard, zlib.NoCompression)
	for i, o := range objs {
		crc.Reset()
		obj := io.MultiWriter(out, crc)
		if _, err := obj.Write(packObjectHeader(o.typ, len(o.content))); err != nil {
			return nil, nil, err
		}
		z := zs
		if len(o.content) >= compressMin {
			z = zw
		}
		z.Reset(obj)
		if _, err := z.Write(o.content); err != nil {
			return nil, nil, err
		}
		if err := z.Close(); err != nil {
			return nil, nil, err
		}
		entries[i] = idxEntry{o.hash, crc.Sum32(), offset}
		offset = counted.n
	}
	packSum := sum.Sum(nil)
	if _, err := bw.Write(packSum); err != nil {
		return nil, nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, nil, err
	}
	return entries, packSum, nil
}

// encodeIndex is the version-2 index of a pack: fan-out, sorted names,
// CRCs, offsets (large ones in a table of their own), the pack's checksum
// and its own. It sorts entries.
func encodeIndex(entries []idxEntry, packSum []byte) []byte {
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
	return idx.Bytes()
}

// publishPack renames the written pack tmpPack and writes idx beside it as
// pack-<packSum>.{idx,pack}.
//
// The index is published before the pack. A reader lists packs by their
// .pack file and needs its index to read any object at all, so a crash
// between the two renames must leave an index without a pack (ignored, and
// removed by the next Open), never a pack without an index (every later
// read would fail).
func publishPack(dir, tmpPack string, idx, packSum []byte) error {
	base := filepath.Join(dir, fmt.Sprintf("pack-%x", packSum))
	tmpIdx := base + ".idx.tmp"
	if err := os.WriteFile(tmpIdx, idx, 0o444); err != nil {
		return err
	}
	if err := os.Rename(tmpIdx, base+".idx"); err != nil {
		_ = os.Remove(tmpIdx)
		return err
	}
	if err := os.Rename(tmpPack, base+".pack"); err != nil {
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
