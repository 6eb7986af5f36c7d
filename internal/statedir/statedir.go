// Package statedir reads and writes a rendered state repository on disk.
//
// It writes only into a folder that is a bindsync state repository: one that
// holds the marker file (staterepo.MarkerPath), or a README.md that an earlier
// bindsync wrote before markers existed. A missing folder, or one that holds
// nothing but .git, becomes one on the first write, which writes the marker
// with the rest of the tree. Any other folder is refused unless the caller
// adopts it explicitly (Adopt), so a wrong --out never deletes files bindsync
// did not write.
//
// In a state repository it owns only the paths render produces — the marker,
// README.md and everything under clusters/ — and leaves anything else (.git,
// a CI config) alone.
package statedir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bindsync/bindsync/internal/staterepo"
)

// Ownership says whether bindsync may write a folder.
type Ownership int

const (
	// Unclaimed is a missing folder, or one with nothing but .git: the first
	// write makes it a state repository.
	Unclaimed Ownership = iota
	// Marked holds the marker: a state repository.
	Marked
	// Legacy holds no marker, but bindsync's README.md: a state repository
	// written before markers existed. The next write adds the marker.
	Legacy
	// Foreign holds other files and no marker: not bindsync's to write.
	Foreign
)

// legacyReadmeHeading starts the README.md every bindsync writes, with or
// without a marker.
const legacyReadmeHeading = "# bindsync state repository\n"

// ownedPaths are what a state repository's writer owns besides the marker.
var ownedPaths = []string{staterepo.ReadmePath, staterepo.ClustersDir + "/"}

// ignoredInUnclaimed are the entries an unclaimed folder may hold: a fresh
// `git init` or clone.
var ignoredInUnclaimed = map[string]bool{".git": true}

// NotStateRepoError is a folder that holds files bindsync did not write and
// no marker.
type NotStateRepoError struct {
	Dir string
	// Found lists up to three of the folder's entries, sorted.
	Found []string
}

func (e *NotStateRepoError) Error() string {
	return fmt.Sprintf("%s is not a bindsync state repository: it holds %s and no %s", e.Dir, strings.Join(e.Found, ", "), staterepo.MarkerPath)
}

// Inspect says whether dir is a state repository bindsync may write. A
// Foreign folder comes back with a *NotStateRepoError describing it. A
// marker from a newer bindsync, or one that does not parse, is an error.
func Inspect(dir string) (Ownership, error) {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Unclaimed, nil
	case err != nil:
		return Foreign, fmt.Errorf("read state dir %s: %w", dir, err)
	case !st.IsDir():
		return Foreign, fmt.Errorf("read state dir: %s is not a folder", dir)
	}
	if b, ok, err := readRootFile(dir, staterepo.MarkerPath); err != nil {
		return Foreign, err
	} else if ok {
		format, err := staterepo.MarkerFormat(b)
		if err != nil {
			return Foreign, fmt.Errorf("read state dir %s: %w", dir, err)
		}
		if format > staterepo.StateFormat {
			return Foreign, fmt.Errorf("read state dir %s: written by a newer bindsync (format %d; this one writes format %d): upgrade bindsync", dir, format, staterepo.StateFormat)
		}
		return Marked, nil
	}
	if b, ok, err := readRootFile(dir, staterepo.ReadmePath); err != nil {
		return Foreign, err
	} else if ok && bytes.HasPrefix(b, []byte(legacyReadmeHeading)) {
		return Legacy, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Foreign, fmt.Errorf("read state dir %s: %w", dir, err)
	}
	var found []string
	for _, e := range entries {
		if ignoredInUnclaimed[e.Name()] {
			continue
		}
		name := e.Name()
		if e.IsDir() {
			name += "/"
		}
		found = append(found, name)
	}
	if len(found) == 0 {
		return Unclaimed, nil
	}
	sort.Strings(found)
	if len(found) > 3 {
		found = append(found[:3], "...")
	}
	return Foreign, &NotStateRepoError{Dir: dir, Found: found}
}

// readRootFile reads one of the files bindsync keeps at the top of the
// folder; ok is false when it does not exist.
func readRootFile(dir, name string) (b []byte, ok bool, err error) {
	p := filepath.Join(dir, name)
	st, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read state dir %s: %w", dir, err)
	}
	if !st.Mode().IsRegular() {
		return nil, false, notRegular(p)
	}
	b, err = os.ReadFile(p)
	if err != nil {
		return nil, false, fmt.Errorf("read state dir %s: %w", dir, err)
	}
	return b, true, nil
}

// Read returns the managed files under dir. A missing dir is an empty tree.
// A symlink among the managed paths is an error: Write would otherwise write
// through it to a file outside dir. Read does not check ownership: it reads
// what a write would replace.
func Read(dir string) (staterepo.Tree, error) {
	tree := staterepo.Tree{}
	for _, name := range []string{staterepo.MarkerPath, staterepo.ReadmePath} {
		b, ok, err := readRootFile(dir, name)
		if err != nil {
			return nil, err
		}
		if ok {
			tree[name] = b
		}
	}
	root := filepath.Join(dir, staterepo.ClustersDir)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return filepath.SkipDir
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return notRegular(p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		tree[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read state dir %s: %w", dir, err)
	}
	return tree, nil
}

// notRegular refuses a symlink (or device, or socket) where bindsync keeps
// its files: writing through it would change a file outside the folder.
func notRegular(p string) error {
	return fmt.Errorf("read state dir: %s is not a regular file or folder; bindsync never reads or writes through symlinks", p)
}

// Changes lists how a folder differs from a tree, each list sorted.
type Changes struct {
	Added, Changed, Removed []string
}

// Empty reports whether the folder matches the tree.
func (c Changes) Empty() bool { return len(c.Added)+len(c.Changed)+len(c.Removed) == 0 }

// Diff compares want with what is on disk: Added are paths only in want,
// Removed paths only on disk, Changed paths whose bytes differ.
func Diff(want, have staterepo.Tree) Changes {
	var c Changes
	for p, b := range want {
		old, ok := have[p]
		switch {
		case !ok:
			c.Added = append(c.Added, p)
		case !bytes.Equal(old, b):
			c.Changed = append(c.Changed, p)
		}
	}
	for p := range have {
		if _, ok := want[p]; !ok {
			c.Removed = append(c.Removed, p)
		}
	}
	sort.Strings(c.Added)
	sort.Strings(c.Changed)
	sort.Strings(c.Removed)
	return c
}

// Write makes dir hold exactly tree in the paths this package owns: it writes
// files that are new or differ, removes managed files the tree no longer has
// (and folders left empty), and touches nothing else. It refuses a Foreign
// folder (a *NotStateRepoError) and a tree without the marker, which only a
// rendered tree holds.
func Write(tree staterepo.Tree, dir string) (Changes, error) {
	return write(tree, dir, false)
}

// Adopt is Write for a folder the caller has decided to make a state
// repository although it holds other files: the marker is written and
// everything else in the folder stays. It still refuses a folder whose
// README.md or clusters/ holds files bindsync did not write, since writing
// would overwrite or delete them: those must be moved out of the way first.
func Adopt(tree staterepo.Tree, dir string) (Changes, error) {
	return write(tree, dir, true)
}

func write(tree staterepo.Tree, dir string, adopt bool) (Changes, error) {
	if _, ok := tree[staterepo.MarkerPath]; !ok {
		return Changes{}, fmt.Errorf("write state dir %s: the tree has no %s; only a rendered tree can be written", dir, staterepo.MarkerPath)
	}
	_, err := Inspect(dir)
	var foreign *NotStateRepoError
	if err != nil && !(adopt && errors.As(err, &foreign)) {
		return Changes{}, err
	}
	have, err := Read(dir)
	if err != nil {
		return Changes{}, err
	}
	if foreign != nil && len(have) > 0 {
		paths := have.Paths()
		if len(paths) > 3 {
			paths = append(paths[:3], "...")
		}
		return Changes{}, fmt.Errorf("%w; it cannot be made one as it is: %s would be overwritten or removed (%s); move them out of the way first",
			foreign, strings.Join(ownedPaths, " and "), strings.Join(paths, ", "))
	}
	c := Diff(tree, have)
	for _, list := range [][]string{c.Added, c.Changed} {
		for _, p := range list {
			if err := writeFile(dir, p, tree[p]); err != nil {
				return c, err
			}
		}
	}
	for _, p := range c.Removed {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.Remove(full); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return c, fmt.Errorf("write state dir: remove %s: %w", full, err)
		}
		removeEmptyParents(dir, path.Dir(p))
	}
	return c, nil
}

func writeFile(dir, p string, b []byte) error {
	if !filepath.IsLocal(filepath.FromSlash(p)) {
		return fmt.Errorf("write state dir: path %q leaves %s", p, dir)
	}
	full := filepath.Join(dir, filepath.FromSlash(p))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return fmt.Errorf("write state dir: %w", err)
	}
	if err := os.WriteFile(full, b, 0o644); err != nil {
		return fmt.Errorf("write state dir: %w", err)
	}
	return nil
}

// removeEmptyParents removes rel and its parents while they are empty,
// stopping at the clusters folder.
func removeEmptyParents(dir, rel string) {
	for rel != "." && rel != staterepo.ClustersDir && rel != "/" {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
			return
		}
		rel = path.Dir(rel)
	}
}
