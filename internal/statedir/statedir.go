// Package statedir reads and writes a rendered state repository on disk.
// It owns only the paths render produces — README.md and everything under
// clusters/ — and leaves anything else in the folder (.git, a CI config)
// alone.
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

	"github.com/bindsync/bindsync/internal/render"
)

// Read returns the managed files under dir. A missing dir is an empty tree.
// A symlink among the managed paths is an error: Write would otherwise write
// through it to a file outside dir.
func Read(dir string) (render.Tree, error) {
	tree := render.Tree{}
	readme := filepath.Join(dir, render.ReadmePath)
	if st, err := os.Lstat(readme); err == nil {
		if !st.Mode().IsRegular() {
			return nil, notRegular(readme)
		}
		b, err := os.ReadFile(readme)
		if err != nil {
			return nil, fmt.Errorf("read state dir %s: %w", dir, err)
		}
		tree[render.ReadmePath] = b
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read state dir %s: %w", dir, err)
	}
	root := filepath.Join(dir, render.ClustersDir)
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
func Diff(want, have render.Tree) Changes {
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
// (and folders left empty), and touches nothing else.
func Write(tree render.Tree, dir string) (Changes, error) {
	have, err := Read(dir)
	if err != nil {
		return Changes{}, err
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
	for rel != "." && rel != render.ClustersDir && rel != "/" {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
			return
		}
		rel = path.Dir(rel)
	}
}
