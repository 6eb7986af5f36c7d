package gitrepo_test

import (
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/testutil/gitrepo"
	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

func TestCommitWritesAndRemoves(t *testing.T) {
	r := gitrepo.New(t)
	r.When = time.Unix(1700000000, 0)
	files := func(h plumbing.Hash) []string {
		c, err := r.Repo.CommitObject(h)
		require.NoError(t, err)
		tree, err := c.Tree()
		require.NoError(t, err)
		var out []string
		require.NoError(t, tree.Files().ForEach(func(f *object.File) error { out = append(out, f.Name); return nil }))
		return out
	}

	r.Write(map[string]string{"a/x.yaml": "x\n", "b.yaml": "b\n"})
	first := r.Commit("first", nil)
	assert.ElementsMatch(t, []string{"a/x.yaml", "b.yaml"}, files(first))
	r.Remove("b.yaml")
	second := r.Commit("second", nil)
	assert.Equal(t, []string{"a/x.yaml"}, files(second))
	r.Clear()
	r.Write(map[string]string{"c.yaml": "c\n"})
	third := r.Commit("third", nil)
	assert.Equal(t, []string{"c.yaml"}, files(third))

	head, err := r.Repo.Head()
	require.NoError(t, err)
	assert.Equal(t, "refs/heads/main", head.Name().String())
	assert.Equal(t, third, head.Hash())
	c, err := r.Repo.CommitObject(third)
	require.NoError(t, err)
	assert.Equal(t, r.When.Unix(), c.Author.When.Unix())
	assert.Equal(t, "file://"+r.Dir, r.URL())
}
