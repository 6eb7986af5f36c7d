package staterepo_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bindsync/bindsync/internal/staterepo"
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // every test package takes -update
)

// The identity helper names memory, not content: the caches built on it
// (docs/caches.md) are only right because equal content in another slice
// or map is never taken for the one they remember.
func TestIdentityNamesMemoryNotContent(t *testing.T) {
	b := bytes.Repeat([]byte("x"), 2048)
	same := b
	copied := bytes.Clone(b)
	assert.Equal(t, staterepo.SliceIdentity(b), staterepo.SliceIdentity(same), "one slice, one identity")
	assert.NotEqual(t, staterepo.SliceIdentity(b), staterepo.SliceIdentity(copied), "equal bytes elsewhere are another slice")
	assert.NotEqual(t, staterepo.SliceIdentity(b), staterepo.SliceIdentity(b[:10]), "a shorter view of one array is another slice")

	tree := staterepo.Tree{"a": b}
	alias := tree
	clone := staterepo.Tree{"a": b}
	assert.True(t, staterepo.SameTree(tree, alias), "one map")
	assert.False(t, staterepo.SameTree(tree, clone), "a map with the same files is another tree")
	assert.False(t, staterepo.SameTree(nil, nil), "nil is no tree")
	assert.True(t, staterepo.TreesEqual(tree, clone), "same paths, same bytes")
	clone["a"] = copied[:len(copied)-1]
	assert.False(t, staterepo.TreesEqual(tree, clone), "other bytes")
}

// A BytesComparer remembers large comparisons by identity and small ones
// not at all; both give bytes.Equal's answer.
func TestBytesComparerIsBytesEqual(t *testing.T) {
	large := bytes.Repeat([]byte("y"), 4096)
	other := bytes.Clone(large)
	other[100] = 'z'
	var c staterepo.BytesComparer
	for range 2 { // the second time from memory
		assert.True(t, c.Equal(large, large))
		assert.True(t, c.Equal(large, bytes.Clone(large)))
		assert.False(t, c.Equal(large, other))
		assert.False(t, c.Equal(large, large[:4095]))
		assert.True(t, c.Equal([]byte("small"), []byte("small")))
		assert.False(t, c.Equal([]byte("small"), []byte("smalL")))
	}
}
