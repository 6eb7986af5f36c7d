package approve

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/staterepo"

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
	main, _, err := repo.Commit(plumbing.ZeroHash, staterepo.Tree{"clusters/team-a/app/kustomization.yaml": []byte("a\n")},
		staterepo.Message{Subject: "bind: team-a <- pg", Trailers: []staterepo.Trailer{{Key: staterepo.TrailerCause, Value: "bind"}}})
	require.NoError(t, err)
	require.NoError(t, repo.Push(ctx, "main", plumbing.ZeroHash, main))
	branch, _, err := repo.Commit(main, staterepo.Tree{"clusters/team-a/app/kustomization.yaml": []byte("a\n"), "clusters/team-b/app/kustomization.yaml": []byte("b\n")},
		staterepo.Message{Subject: "bind: team-b <- pg", Body: "pending", Trailers: []staterepo.Trailer{
			{Key: staterepo.TrailerCluster, Value: "team-b"}, {Key: staterepo.TrailerTemplate, Value: "pg"}, {Key: staterepo.TrailerCause, Value: "bind"},
			{Key: staterepo.TrailerBase, Value: main.String()}}})
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
	assert.Equal(t, []staterepo.Trailer{{Key: staterepo.TrailerCluster, Value: "team-b"}, {Key: staterepo.TrailerTemplate, Value: "pg"},
		{Key: staterepo.TrailerCause, Value: "bind"}, {Key: staterepo.TrailerApprovedBy, Value: "Ada <ada@example.com>"}}, c.Message.Trailers,
		"the branch's trailers without Bindsync-Base, and the approver")
}

func TestMergeRefusesWhenMainMoved(t *testing.T) {
	r := newLocalRepo(t)
	moved, _, err := r.repo.Commit(r.main, staterepo.Tree{"README.md": []byte("x\n")}, staterepo.Message{Subject: "edit"})
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
		"no such branch": {branch: "bindsync/approve/team-b/other", code: exitcode.Problems, contains: "has no branch bindsync/approve/team-b/other"},
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

// branchOn commits tree on main's head as a branch commit of the backend's
// shape and pushes it as branch.
func (r *localRepo) branchOn(t *testing.T, branch string, tree staterepo.Tree, trailers ...staterepo.Trailer) plumbing.Hash {
	t.Helper()
	h, _, err := r.repo.Commit(r.main, tree, staterepo.Message{Subject: "bind: tampered", Trailers: append(trailers, staterepo.Trailer{Key: staterepo.TrailerBase, Value: r.main.String()})})
	require.NoError(t, err)
	old, _ := r.repo.Branches(staterepo.BranchPrefix)
	require.NoError(t, r.repo.Push(context.Background(), branch, old[branch], h))
	return h
}

func exportFile(name, template string) []byte {
	return []byte("apiVersion: bindsync.io/v1alpha1\nkind: APIServiceExport\nmetadata:\n  annotations:\n    bindsync.io/template: " + template + "\n  name: " + name + "\n")
}

// TestApproveShowsAndRefusesOutOfScope: approve prints the branch's commit
// and its paths before merging, and refuses, naming each path, a branch
// whose change reaches beyond what its cause renders; main stays.
func TestApproveShowsAndRefusesOutOfScope(t *testing.T) {
	base := staterepo.Tree{"clusters/team-a/app/kustomization.yaml": []byte("a\n")}
	with := func(extra staterepo.Tree) staterepo.Tree {
		out := staterepo.Tree{}
		for p, b := range base {
			out[p] = b
		}
		for p, b := range extra {
			out[p] = b
		}
		return out
	}
	good := with(staterepo.Tree{
		"clusters/team-b/app/kustomization.yaml":                     []byte("b\n"),
		"clusters/team-b/control-plane/exports/pgs.example.com.yaml": exportFile("pgs.example.com", "pg"),
	})
	tpl := []staterepo.Trailer{{Key: staterepo.TrailerCluster, Value: "team-b"}, {Key: staterepo.TrailerTemplate, Value: "pg"}}
	for name, tc := range map[string]struct {
		branch string
		tree   staterepo.Tree
		want   []string // in the error; none: merged
	}{
		"the request's own files": {pendingBranch, good, nil},
		"another cluster's folder and a file outside clusters/": {pendingBranch, with(staterepo.Tree{
			"clusters/team-b/app/kustomization.yaml":        []byte("b\n"),
			"clusters/team-a/control-plane/rbac.yaml":       []byte("kind: Role\n"),
			".github/workflows/x.yaml":                      []byte("x\n"),
			"clusters/team-b/control-plane/extra/evil.yaml": []byte("x\n"),
		}), []string{"clusters/team-a/control-plane/rbac.yaml (added): not a file bindsync renders for cluster team-b",
			".github/workflows/x.yaml (added)", "clusters/team-b/control-plane/extra/evil.yaml (added)"}},
		"a deletion": {pendingBranch, staterepo.Tree{"clusters/team-b/app/kustomization.yaml": []byte("b\n")},
			[]string{"clusters/team-a/app/kustomization.yaml (deleted)"}},
		"an export of another template": {pendingBranch, with(staterepo.Tree{
			"clusters/team-b/control-plane/exports/pgs.example.com.yaml": exportFile("pgs.example.com", "other"),
		}), []string{`bindsync.io/template is "other", not the branch's template "pg"`}},
		"an export file holding another object": {pendingBranch, with(staterepo.Tree{
			"clusters/team-b/control-plane/exports/pgs.example.com.yaml": exportFile("secrets.example.com", "pg"),
		}), []string{`holds "secrets.example.com", not pgs.example.com`}},
		"a schema branch adding a file": {"bindsync/schema/pgs.example.com/1a2b3c4d", with(staterepo.Tree{
			"clusters/team-a/app/crds/pgs.example.com.yaml": []byte("x\n"),
		}), []string{"clusters/team-a/app/crds/pgs.example.com.yaml (added): a schema change modifies the files that exist"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := newLocalRepo(t)
			h := r.branchOn(t, tc.branch, tc.tree, tpl...)
			var out, errOut bytes.Buffer
			cmd := NewCommand(&out, &errOut)
			cmd.SetArgs([]string{tc.branch, "--repo", r.dir, "--approver", "Ada <ada@example.com>"})
			err := cmd.Execute()
			assert.Contains(t, errOut.String(), "approving "+tc.branch+": 1 commit on main@sha1:", "what is merged is shown first")
			assert.Contains(t, errOut.String(), h.String()[:12]+" bind: tampered")
			reopened, rerr := git.Open(context.Background(), git.Options{Dir: r.dir})
			require.NoError(t, rerr)
			head, rerr := reopened.Head("main")
			require.NoError(t, rerr)
			if tc.want == nil {
				require.NoError(t, err)
				assert.Contains(t, errOut.String(), "A clusters/team-b/control-plane/exports/pgs.example.com.yaml")
				assert.Contains(t, errOut.String(), "A clusters/team-b/app/kustomization.yaml")
				assert.NotEqual(t, r.main, head)
				return
			}
			var coded *exitcode.Error
			require.True(t, errors.As(err, &coded), "%v", err)
			assert.Equal(t, exitcode.Problems, coded.Code)
			assert.ErrorContains(t, err, "refusing to merge "+tc.branch)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
			assert.Equal(t, r.main, head, "main is untouched")
		})
	}
}

// TestApproveRefusesAMergeCommitHead: a branch head with a second parent
// would bring history the approver never saw.
func TestApproveRefusesAMergeCommitHead(t *testing.T) {
	r := newLocalRepo(t)
	side, _, err := r.repo.Commit(plumbing.ZeroHash, staterepo.Tree{"evil.yaml": []byte("x\n")}, staterepo.Message{Subject: "side"})
	require.NoError(t, err)
	m, err := r.repo.MergeCommit([]plumbing.Hash{r.main, side}, r.branch, staterepo.Message{Subject: "bind: team-b <- pg"})
	require.NoError(t, err)
	require.NoError(t, r.repo.Push(context.Background(), pendingBranch, r.branch, m))
	var out, errOut bytes.Buffer
	cmd := NewCommand(&out, &errOut)
	cmd.SetArgs([]string{pendingBranch, "--repo", r.dir, "--approver", "Ada <ada@example.com>"})
	assert.ErrorContains(t, cmd.Execute(), "is a merge commit of 2 parents")
}

// TestApproveRefusesASymlink: a branch whose CRD file is a symlink (which
// git stores as a blob of the target path, mode 120000) is refused even
// though its path is in scope.
func TestApproveRefusesASymlink(t *testing.T) {
	r := newLocalRepo(t)
	work := t.TempDir()
	gitRun := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	gitRun("clone", "-q", r.dir, ".")
	gitRun("checkout", "-q", "-b", "evil", "origin/main")
	link := filepath.Join(work, "clusters", "team-b", "app", "crds", "pgs.example.com.yaml")
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	require.NoError(t, os.Symlink("../../../team-a/app/kustomization.yaml", link))
	gitRun("add", "-A")
	gitRun("commit", "-q", "-m", "bind: team-b <- pg")
	gitRun("push", "-q", "-f", "origin", "evil:"+pendingBranch)

	var out, errOut bytes.Buffer
	cmd := NewCommand(&out, &errOut)
	cmd.SetArgs([]string{pendingBranch, "--repo", r.dir, "--approver", "Ada <ada@example.com>"})
	err := cmd.Execute()
	assert.ErrorContains(t, err, "clusters/team-b/app/crds/pgs.example.com.yaml (added): not a regular file")
}

// TestApproveRefusedPushIsRefused: a push of main the remote declines for a
// reason other than main moving (a hook protecting main) exits
// exitcode.Refused, naming what the remote said; it used to exit 2, as bad
// usage.
func TestApproveRefusedPushIsRefused(t *testing.T) {
	r := newLocalRepo(t)
	require.NoError(t, os.MkdirAll(filepath.Join(r.dir, "hooks"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(r.dir, "hooks", "update"),
		[]byte("#!/bin/sh\ncase \"$1\" in refs/heads/main) echo main is protected >&2; exit 1;; esac\n"), 0o755))
	var out, errOut bytes.Buffer
	cmd := NewCommand(&out, &errOut)
	cmd.SetArgs([]string{pendingBranch, "--repo", r.dir, "--approver", "Ada <ada@example.com>"})
	err := cmd.Execute()
	var coded *exitcode.Error
	require.True(t, errors.As(err, &coded), "%v", err)
	assert.Equal(t, exitcode.Refused, coded.Code, "%v", err)
	assert.ErrorContains(t, err, "main is protected")
	reopened, err := git.Open(context.Background(), git.Options{Dir: r.dir})
	require.NoError(t, err)
	head, err := reopened.Head("main")
	require.NoError(t, err)
	assert.Equal(t, r.main, head, "main is untouched")
}
