package git

import (
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
)

// objectIndex answers "does the store hold this object?" quickly: a stat
// for a loose object, then the pack indexes, loaded once per pack. It is
// what Commit asks for every object it might write, so on a large tree it
// must not go through go-git's path-resolving file system layer.
type objectIndex struct {
	dir   string
	mu    sync.Mutex
	packs map[string]*idxfile.MemoryIndex // by .idx path
	names string
}

func newObjectIndex(dir string) *objectIndex {
	return &objectIndex{dir: dir, packs: map[string]*idxfile.MemoryIndex{}}
}

// has reports whether the object h is stored (in a pack it has loaded,
// else loose); when unsure (an index it
// cannot read) it answers false, and the object is written again, which
// is harmless.
func (x *objectIndex) has(h plumbing.Hash) bool {
	if x.packed(h) { // in memory: most objects are packed
		return true
	}
	hex := h.String()
	_, err := os.Stat(filepath.Join(x.dir, "objects", hex[:2], hex[2:]))
	return err == nil
}

func (x *objectIndex) packed(h plumbing.Hash) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, idx := range x.packs {
		if ok, err := idx.Contains(h); err == nil && ok {
			return true
		}
	}
	return false
}

// refresh loads the indexes of packs written since the last call and
// forgets removed ones. Commit calls it once before its checks. Only an
// index whose pack is in place counts: an index without its pack (a
// writer between its two renames, or one that crashed there) holds
// objects nobody can read, and trusting it would skip writing them.
func (x *objectIndex) refresh() {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := publishedIndexes(x.dir)
	names := strings.Join(m, "\n")
	if names == x.names {
		return
	}
	seen := map[string]bool{}
	for _, p := range m {
		seen[p] = true
		if _, ok := x.packs[p]; ok {
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		idx := idxfile.NewMemoryIndex()
		err = idxfile.NewDecoder(f).Decode(idx)
		_ = f.Close()
		if err == nil {
			x.packs[p] = idx
		}
	}
	for p := range x.packs {
		if !seen[p] {
			delete(x.packs, p)
		}
	}
	x.names = names
}

// publishedIndexes lists the .idx files of objects/pack whose .pack is in
// place, sorted.
func publishedIndexes(dir string) []string {
	m, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "pack-*.idx"))
	out := m[:0]
	for _, idx := range m {
		if _, err := os.Stat(strings.TrimSuffix(idx, ".idx") + ".pack"); err == nil {
			out = append(out, idx)
		}
	}
	return out
}
