package approve

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/render"

	_ "github.com/bindsync/bindsync/internal/testutil/golden" // accepts -update like every test package
)

func TestCheckBranchAcceptsOnlyBindsyncBranches(t *testing.T) {
	for branch, ok := range map[string]bool{
		"bindsync/approve/team-a/pg":         true,
		"bindsync/schema/pg.example.com/abc": true,
		"main":                               false,
		"feature/x":                          false,
		"bindsync/approve/":                  false,
		"bindsync/other/x":                   false,
		"bindsync/approve/../../main":        false,
	} {
		err := CheckBranch(branch)
		assert.Equal(t, ok, err == nil, "%s: %v", branch, err)
	}
}

func TestApprover(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	_, _, err := Approver("")
	assert.ErrorContains(t, err, "--approver", "no flag, no git config")

	name, email, err := Approver("Ada Lovelace <ada@example.com>")
	require.NoError(t, err)
	assert.Equal(t, []string{"Ada Lovelace", "ada@example.com"}, []string{name, email})
	_, _, err = Approver("ada@example.com")
	assert.ErrorContains(t, err, `"Name <email>"`, "a name is required")

	require.NoError(t, os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Grace\n\temail = grace@example.com\n"), 0o600))
	name, email, err = Approver("")
	require.NoError(t, err)
	assert.Equal(t, []string{"Grace", "grace@example.com"}, []string{name, email})
}

// localRepo is a bare repository with main and a bindsync branch built on
// it the way the backend builds one.
type localRepo struct {
	dir          string
	repo         *git.Repo
	main, branch plumbing.Hash
}

const pendingBranch = "bindsync/approve/team-b/pg"

func newLocalRepo(t *testing.T) *localRepo {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state.git")
	repo, err := git.Open(ctx, git.Options{Dir: dir})
	require.NoError(t, err)
	main, _, err := repo.Commit(plumbing.ZeroHash, render.Tree{"clusters/team-a/app/kustomization.yaml": []byte("a\n")},
		git.Message{Subject: "bind: team-a <- pg", Trailers: []git.Trailer{{Key: git.TrailerCause, Value: "bind"}}})
	require.NoError(t, err)
	require.NoError(t, repo.Push(ctx, "main", plumbing.ZeroHash, main))
	branch, _, err := repo.Commit(main, render.Tree{"clusters/team-a/app/kustomization.yaml": []byte("a\n"), "clusters/team-b/app/kustomization.yaml": []byte("b\n")},
		git.Message{Subject: "bind: team-b <- pg", Body: "pending", Trailers: []git.Trailer{
			{Key: git.TrailerCluster, Value: "team-b"}, {Key: git.TrailerTemplate, Value: "pg"}, {Key: git.TrailerCause, Value: "bind"},
			{Key: plan.TrailerBase, Value: main.String()}}})
	require.NoError(t, err)
	require.NoError(t, repo.Push(ctx, pendingBranch, plumbing.ZeroHash, branch))
	return &localRepo{dir: dir, repo: repo, main: main, branch: branch}
}

func TestMergeIsMainsHeadAndTheBranchWithTheBranchsTree(t *testing.T) {
	r := newLocalRepo(t)
	h, err := Merge(r.repo, "main", r.main, pendingBranch, r.branch, "Ada <ada@example.com>")
	require.NoError(t, err)
	c, err := r.repo.CommitInfo(h)
	require.NoError(t, err)
	b, err := r.repo.CommitInfo(r.branch)
	require.NoError(t, err)
	assert.Equal(t, []plumbing.Hash{r.main, r.branch}, c.Parents)
	assert.Equal(t, b.Tree, c.Tree)
	assert.Equal(t, "approve: bind: team-b <- pg", c.Message.Subject)
	assert.Equal(t, []git.Trailer{{Key: git.TrailerCluster, Value: "team-b"}, {Key: git.TrailerTemplate, Value: "pg"},
		{Key: git.TrailerCause, Value: "bind"}, {Key: TrailerApprovedBy, Value: "Ada <ada@example.com>"}}, c.Message.Trailers,
		"the branch's trailers without Bindsync-Base, and the approver")
}

func TestMergeRefusesWhenMainMoved(t *testing.T) {
	r := newLocalRepo(t)
	moved, _, err := r.repo.Commit(r.main, render.Tree{"README.md": []byte("x\n")}, git.Message{Subject: "edit"})
	require.NoError(t, err)
	_, err = Merge(r.repo, "main", moved, pendingBranch, r.branch, "Ada <ada@example.com>")
	var coded *exitcode.Error
	require.True(t, errors.As(err, &coded), "%v", err)
	assert.Equal(t, exitcode.Conflict, coded.Code)
	assert.ErrorContains(t, err, "the backend rebuilds the branch")
}

func TestApproveCommandPushesTheMerge(t *testing.T) {
	r := newLocalRepo(t)
	for name, tc := range map[string]struct {
		branch   string
		code     int
		contains string
	}{
		"no such branch": {branch: "bindsync/approve/team-b/other", code: exitcode.Unusable, contains: "has no branch bindsync/approve/team-b/other"},
		"merged":         {branch: pendingBranch, code: exitcode.OK},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			cmd := NewCommand(&out, &errOut)
			cmd.SetArgs([]string{tc.branch, "--repo", r.dir, "--approver", "Ada <ada@example.com>"})
			err := cmd.Execute()
			if tc.code != exitcode.OK {
				var coded *exitcode.Error
				require.True(t, errors.As(err, &coded), "%v", err)
				assert.Equal(t, tc.code, coded.Code)
				assert.ErrorContains(t, err, tc.contains)
				return
			}
			require.NoError(t, err)
			reopened, err := git.Open(context.Background(), git.Options{Dir: r.dir})
			require.NoError(t, err)
			head, err := reopened.Head("main")
			require.NoError(t, err)
			assert.Equal(t, "main@sha1:"+head.String()+"\n", out.String())
			c, err := reopened.CommitInfo(head)
			require.NoError(t, err)
			assert.Equal(t, []plumbing.Hash{r.main, r.branch}, c.Parents)
			assert.Contains(t, errOut.String(), "merged "+pendingBranch+" into main")
		})
	}
}
