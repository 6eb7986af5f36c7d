package staterepo

import (
	"bytes"
	"reflect"
	"unsafe"
)

// Identity and tree comparisons: the one place bindsync's speed-ups find a
// value by where it lives instead of by what it holds.
//
// Every tree bindsync makes (render's output, a plan's trees, a tree read
// from git) shares one byte slice between the paths that hold the same
// content, and nobody writes into a tree's bytes or into a tree once it is
// made: a writer makes a new map (maps.Clone) and new slices. On that
// promise a cache may remember what it learnt of a slice or a map by its
// Identity — an export file decoded once, a blob hashed once, a large
// comparison made once — at the cost of a pointer comparison. The caches
// that do, their keys and lifetimes, and the tests that guard the promise
// are listed in docs/caches.md.

// Identity names a slice or a map by its backing memory (and a slice by its
// length too), not by its content: two values with one Identity hold the
// same content as long as nobody modifies them. An Identity keeps that
// memory alive, so while a cache holds it no other value can come to live
// at the same address and be taken for the one it names.
type Identity struct {
	p unsafe.Pointer
	n int
}

// SliceIdentity is the Identity of s: its backing array and length. Empty
// slices of one array (and nil slices) share one.
func SliceIdentity[T any](s []T) Identity {
	return Identity{unsafe.Pointer(unsafe.SliceData(s)), len(s)}
}

// MapIdentity is the Identity of m: the very map, whatever it holds now.
// Every nil map has the same one.
func MapIdentity[M ~map[K]V, K comparable, V any](m M) Identity {
	return Identity{reflect.ValueOf(m).UnsafePointer(), -1}
}

// SameTree reports whether a and b are one map (both not nil): what is
// known of one tree is known of the other. Trees with equal content that
// are different maps are not the same tree; compare those with TreesEqual.
func SameTree(a, b Tree) bool {
	return a != nil && b != nil && MapIdentity(a) == MapIdentity(b)
}

// TreesEqual reports whether two trees hold the same paths with the same
// bytes.
func TreesEqual(a, b Tree) bool {
	if len(a) != len(b) {
		return false
	}
	for p, x := range a {
		y, ok := b[p]
		if !ok || !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}

// BytesComparer compares byte slices, remembering the result for large
// ones by their identities: the exports and CRD files that a thousand
// clusters share are one slice in each tree, so they are compared once, not
// a thousand times. Use one for one comparison of two trees; its zero value
// is ready to use.
type BytesComparer struct {
	seen map[[2]Identity]bool
}

// bytesCompareMin is the size from which a comparison is remembered.
const bytesCompareMin = 1 << 10

// Equal reports whether x and y hold the same bytes.
func (c *BytesComparer) Equal(x, y []byte) bool {
	if len(x) != len(y) {
		return false
	}
	if len(x) < bytesCompareMin {
		return bytes.Equal(x, y)
	}
	k := [2]Identity{SliceIdentity(x), SliceIdentity(y)}
	eq, ok := c.seen[k]
	if !ok {
		eq = bytes.Equal(x, y)
		if c.seen == nil {
			c.seen = map[[2]Identity]bool{}
		}
		c.seen[k] = eq
	}
	return eq
}
