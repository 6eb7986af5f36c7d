package git

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/staterepo"
)

// TestMergeCommitAndFirstParentLogAgreeWithGit: a merge commit written by
// MergeCommit passes git fsck, has the branch's tree and both parents, and
// FirstParentLog lists what `git log --first-parent` lists.
func TestMergeCommitAndFirstParentLogAgreeWithGit(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state.git")
	r := openRepo(t, Options{Dir: dir, AuthorName: "Ada", AuthorEmail: "ada@example.com"})
	m1, _, err := r.Commit(plumbing.ZeroHash, sampleTree("c1"), bindMessage("c1", "pg"))
	require.NoError(t, err)
	require.NoError(t, r.Push(ctx, "main", plumbing.ZeroHash, m1))
	b1, _, err := r.Commit(m1, sampleTree("c1", "c2"), bindMessage("c2", "pg"))
	require.NoError(t, err)

	_, err = r.MergeCommit([]plumbing.Hash{m1}, b1, staterepo.Message{Subject: "one parent"})
	assert.Error(t, err, "a merge needs two parents")

	merge, err := r.MergeCommit([]plumbing.Hash{m1, b1}, b1, staterepo.Message{Subject: "approve", Trailers: []staterepo.Trailer{{Key: "Bindsync-Approved-By", Value: "Ada <ada@example.com>"}}})
	require.NoError(t, err)
	require.NoError(t, r.Push(ctx, "main", m1, merge))

	gitCLI(t, dir, "fsck", "--strict")
	assert.Equal(t, m1.String()+" "+b1.String(), gitCLI(t, dir, "log", "-1", "--format=%P", "main"))
	assert.Equal(t, gitCLI(t, dir, "rev-parse", b1.String()+"^{tree}"), gitCLI(t, dir, "rev-parse", "main^{tree}"))
	assert.Equal(t, "Bindsync-Approved-By: Ada <ada@example.com>", gitCLI(t, dir, "log", "-1", "--format=%(trailers)", "main"))

	log, err := r.FirstParentLog(merge, 0)
	require.NoError(t, err)
	var hashes []string
	for _, c := range log {
		hashes = append(hashes, c.Hash.String())
	}
	assert.Equal(t, strings.Split(gitCLI(t, dir, "log", "--first-parent", "--format=%H", "main"), "\n"), hashes)
	assert.Equal(t, "Ada <ada@example.com>", log[0].Author)
	one, err := r.FirstParentLog(merge, 1)
	require.NoError(t, err)
	assert.Len(t, one, 1)
}
