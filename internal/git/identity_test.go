package git

import (
	"bytes"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/staterepo"
)

// TestABlobIsHashedByItsOwnBytes guards the commit builder's blob cache
// (docs/caches.md): it finds a blob's hash by the slice's identity, so a
// shorter view of one array, and equal bytes in another slice, must each
// be stored as their own bytes say.
func TestABlobIsHashedByItsOwnBytes(t *testing.T) {
	r := newLocal(t)
	full := bytes.Repeat([]byte("line of a CRD snapshot\n"), 100)
	tree := staterepo.Tree{
		"clusters/a/crd.yaml":  full,
		"clusters/b/crd.yaml":  full[:len(full)/2], // one array, another length
		"clusters/c/crd.yaml":  bytes.Clone(full),  // the same bytes elsewhere
		"clusters/d/note.yaml": full[:0],
	}
	h, changed, err := r.Commit(plumbing.ZeroHash, tree, staterepo.Message{Subject: "views"})
	require.NoError(t, err)
	require.True(t, changed)
	got, err := r.Tree(h)
	require.NoError(t, err)
	assert.True(t, staterepo.TreesEqual(tree, got), "every path holds its own bytes")
}
