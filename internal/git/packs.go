package git

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// repairPacks makes objects/pack of the repository in dir readable after a
// crash of a writer between publishing a pack and its index:
//
//   - an index without its pack (bindsync publishes the index first) holds
//     objects that were never readable; it is removed;
//   - a pack without a usable index (an older bindsync published the pack
//     first; a writer that crashed halfway through an index) makes every
//     object read fail, since the store needs the index of every pack it
//     lists; its index is rebuilt from the pack, as git index-pack does, so
//     nothing in it is lost.
//
// A pack that cannot be indexed is an error naming the file: it is not
// removed, since it may hold the only copy of an object.
func repairPacks(dir string) error {
	packDir := filepath.Join(dir, "objects", "pack")
	entries, err := os.ReadDir(packDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list packs in %s: %w", packDir, err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		names[e.Name()] = true
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "pack-") {
			continue
		}
		switch base, ext := strings.TrimSuffix(name, filepath.Ext(name)), filepath.Ext(name); ext {
		case ".idx":
			if names[base+".pack"] {
				continue
			}
			if err := os.Remove(filepath.Join(packDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove index %s whose pack is missing: %w", filepath.Join(packDir, name), err)
			}
		case ".pack":
			if names[base+".idx"] && indexReadable(filepath.Join(packDir, base+".idx"), base) {
				continue
			}
			if err := indexPack(filepath.Join(packDir, name)); err != nil {
				return fmt.Errorf("pack %s has no usable index and cannot be indexed again (move it away, or restore it from the remote): %w",
					filepath.Join(packDir, name), err)
			}
		}
	}
	return nil
}

// indexReadable reports whether the index file decodes and belongs to the
// pack named base (pack-<checksum>).
func indexReadable(path, base string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(f).Decode(idx); err != nil {
		return false
	}
	return fmt.Sprintf("pack-%x", idx.PackfileChecksum[:]) == base
}

// indexPack writes the index of the pack file at path beside it (through a
// temporary file, renamed into place).
func indexPack(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := new(idxfile.Writer)
	p, err := packfile.NewParser(packfile.NewScanner(f), w)
	if err != nil {
		return err
	}
	sum, err := p.Parse()
	if err != nil {
		return fmt.Errorf("read pack: %w", err)
	}
	if want := strings.TrimSuffix(filepath.Base(path), ".pack"); fmt.Sprintf("pack-%s", sum) != want {
		return fmt.Errorf("its checksum is %s, not the one its name says", sum)
	}
	idx, err := w.Index()
	if err != nil {
		return fmt.Errorf("build index: %w", err)
	}
	var buf bytes.Buffer
	if _, err := idxfile.NewEncoder(&buf).Encode(idx); err != nil {
		return fmt.Errorf("encode index: %w", err)
	}
	final := strings.TrimSuffix(path, ".pack") + ".idx"
	tmp := final + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o444); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write index: %w", err)
	}
	return nil
}
