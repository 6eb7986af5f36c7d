package staterepo

import "sort"

// Tree is a state repository's files: slash-separated path -> file bytes.
// Paths that hold the same content may share one backing slice; treat the
// bytes as read-only.
type Tree map[string][]byte

// Paths returns the tree's paths in sorted order.
func (t Tree) Paths() []string {
	paths := make([]string, 0, len(t))
	for p := range t {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	return paths
}
