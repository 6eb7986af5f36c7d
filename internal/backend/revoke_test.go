package backend

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// gitHarness is the harness with a real state repository: a bare remote
// the backend clones over file://, and a working clone a human commits,
// reverts and pushes with git itself.
type gitHarness struct {
	*harness
	remote, work string
	repo         *git.Repo
}

func newGitHarness(t *testing.T, historyLimit int, objs ...client.Object) *gitHarness {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	h := newHarness(t, objs...)
	dir := t.TempDir()
	g := &gitHarness{harness: h, remote: filepath.Join(dir, "remote.git"), work: filepath.Join(dir, "work")}
	g.git(dir, "init", "--bare", "--initial-branch=main", g.remote)
	repo, err := git.Open(context.Background(), git.Options{URL: "file://" + g.remote, Dir: filepath.Join(dir, "cache")})
	require.NoError(t, err)
	g.repo = repo
	h.rc, err = New(Options{Client: h.client, APIReader: h.client, Repo: GitRepo(repo), Applier: h.applier, HistoryLimit: historyLimit})
	require.NoError(t, err)
	return g
}

// git runs git in dir as a human would.
func (g *gitHarness) git(dir string, args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Platform", "GIT_AUTHOR_EMAIL=platform@example.com",
		"GIT_COMMITTER_NAME=Platform", "GIT_COMMITTER_EMAIL=platform@example.com", "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	require.NoError(g.t, err, "git %s: %s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

// human updates the working clone to main's head and runs fn in it, then
// pushes what fn committed.
func (g *gitHarness) human(fn func(work string)) {
	g.t.Helper()
	if _, err := os.Stat(g.work); err != nil {
		g.git(filepath.Dir(g.work), "clone", "-q", g.remote, g.work)
	}
	g.git(g.work, "pull", "-q", "--ff-only", "origin", "main")
	fn(g.work)
	g.git(g.work, "push", "-q", "origin", "main")
}

func (g *gitHarness) mainFiles() staterepo.Tree {
	g.t.Helper()
	require.NoError(g.t, g.repo.Fetch(context.Background()))
	head, err := g.repo.Head("main")
	require.NoError(g.t, err)
	tree, err := g.repo.Tree(head)
	require.NoError(g.t, err)
	return tree
}

func requestWithUID(name, tpl, uid string) *v1alpha1.APIServiceExportRequest {
	q := newRequest(name, tpl)
	q.UID = types.UID(uid)
	return q
}

// Issue 13 item 3: a git revert of a bind commit is recorded in main as a
// revocation of the template for the cluster. It lasts however long the
// history grows (six unrelated commits with a history limit of three) and
// whatever the request's UID (the request deleted and created again), until
// a commit on main deletes the file.
func TestARevertedBindStaysRevokedUntilTheRevocationFileIsDeleted(t *testing.T) {
	g := newGitHarness(t, 3, requestWithUID("pg", "postgresql", "uid-1"))
	revoked := staterepo.RevokedPath("c1", "postgresql")
	g.reconcile()
	require.Contains(t, g.mainFiles(), staterepo.ExportPath("c1", pgCRD), "bound")
	require.Equal(t, metav1.ConditionTrue, condition(g.request("pg"), v1alpha1.ReadyCondition).Status)

	// A human reverts the bind commit on main.
	g.human(func(work string) {
		bind := g.git(work, "log", "--format=%H", "--grep=^bind: c1 <- postgresql", "-1")
		require.NotEmpty(t, bind)
		g.git(work, "revert", "--no-edit", bind)
	})
	g.reconcile()
	files := g.mainFiles()
	assert.NotContains(t, files, staterepo.ExportPath("c1", pgCRD))
	require.Contains(t, files, revoked, "the revert is recorded in main")
	assert.Contains(t, g.git(g.remote, "log", "-1", "--format=%B", "main"), "Bindsync-Cause: revoke")
	assertRejected(t, g.request("pg"), "after the revert")
	g.applier.applied = nil

	// Six unrelated commits push the bind commit out of the history limit.
	g.human(func(work string) {
		g.git(work, "pull", "-q", "--ff-only", "origin", "main")
		for i := range 6 {
			name := filepath.Join(work, "notes", "note-"+string(rune('a'+i))+".md")
			require.NoError(t, os.MkdirAll(filepath.Dir(name), 0o755))
			require.NoError(t, os.WriteFile(name, []byte("note\n"), 0o644))
			g.git(work, "add", ".")
			g.git(work, "commit", "-q", "-m", "docs: note "+string(rune('a'+i)))
		}
	})
	g.reconcile()
	assert.NotContains(t, g.mainFiles(), staterepo.ExportPath("c1", pgCRD))
	assertRejected(t, g.request("pg"), "six commits later")
	assert.NotContains(t, g.applier.applied["c1"], "APIServiceExport/"+pgCRD, "nothing of the template is applied")

	// The request deleted and created again: a new UID.
	ctx := context.Background()
	require.NoError(t, g.client.Delete(ctx, g.request("pg")))
	require.NoError(t, g.client.Create(ctx, requestWithUID("pg", "postgresql", "uid-2")))
	g.reconcile()
	assert.NotContains(t, g.mainFiles(), staterepo.ExportPath("c1", pgCRD))
	assertRejected(t, g.request("pg"), "re-created")
	assert.Contains(t, condition(g.request("pg"), v1alpha1.ApprovedCondition).Message, revoked, "the condition names the file that lifts it")

	// Deleting the file on main lifts the revocation.
	g.human(func(work string) {
		g.git(work, "pull", "-q", "--ff-only", "origin", "main")
		g.git(work, "rm", "-q", revoked)
		g.git(work, "commit", "-q", "-m", "lift the revocation of postgresql for c1")
	})
	g.reconcile()
	g.reconcile()
	files = g.mainFiles()
	assert.Contains(t, files, staterepo.ExportPath("c1", pgCRD), "bound again")
	assert.NotContains(t, files, revoked)
	q := g.request("pg")
	assert.Equal(t, metav1.ConditionTrue, condition(q, v1alpha1.ApprovedCondition).Status, condition(q, v1alpha1.ApprovedCondition).Message)
	assert.Equal(t, metav1.ConditionTrue, condition(q, v1alpha1.ReadyCondition).Status, condition(q, v1alpha1.ReadyCondition).Message)
	assert.Contains(t, files, "notes/note-a.md", "the human's files are kept")
}

// A revocation lifted while the revoked request still exists (its UID in
// the revoke commit's trailers, within the history limit) binds again too:
// the history search finds the revoke commit, not the reverted bind.
func TestALiftedRevocationIsNotFoundAgainInTheHistory(t *testing.T) {
	g := newGitHarness(t, 0, requestWithUID("pg", "postgresql", "uid-1"))
	revoked := staterepo.RevokedPath("c1", "postgresql")
	g.reconcile()
	g.human(func(work string) {
		g.git(work, "revert", "--no-edit", g.git(work, "log", "--format=%H", "--grep=^bind: c1 <- postgresql", "-1"))
	})
	g.reconcile()
	require.Contains(t, g.mainFiles(), revoked)
	assertRejected(t, g.request("pg"), "after the revert")

	g.human(func(work string) {
		g.git(work, "rm", "-q", revoked)
		g.git(work, "commit", "-q", "-m", "lift")
	})
	g.reconcile()
	g.reconcile()
	assert.Contains(t, g.mainFiles(), staterepo.ExportPath("c1", pgCRD), "bound again")
	assert.Equal(t, metav1.ConditionTrue, condition(g.request("pg"), v1alpha1.ReadyCondition).Status)
}

func assertRejected(t *testing.T, q *v1alpha1.APIServiceExportRequest, when string) {
	t.Helper()
	c := condition(q, v1alpha1.ApprovedCondition)
	assert.Equal(t, metav1.ConditionFalse, c.Status, "%s: %s", when, c.Message)
	assert.Equal(t, v1alpha1.RejectedReason, c.Reason, "%s: %s", when, c.Message)
	assert.Equal(t, v1alpha1.RequestFailed, q.Status.Phase, when)
	r := condition(q, v1alpha1.RenderedCondition)
	assert.Equal(t, v1alpha1.RejectedReason, r.Reason, "%s: Rendered says why it is not in the repository: %s", when, r.Message)
	assert.Equal(t, c.Message, r.Message, when)
}
