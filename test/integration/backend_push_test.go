package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// installHook puts an executable hook into the bare remote (git's own
// receive-pack runs it); removeHook takes it away.
func (e *backendEnv) installHook(name, script string) {
	e.t.Helper()
	require.NoError(e.t, os.WriteFile(filepath.Join(e.remote, "hooks", name), []byte("#!/bin/sh\n"+script), 0o755))
}

func (e *backendEnv) removeHook(name string) {
	e.t.Helper()
	require.NoError(e.t, os.Remove(filepath.Join(e.remote, "hooks", name)))
}

// bindsyncBranches lists the remote's branches under bindsync/.
func (e *backendEnv) bindsyncBranches() []string {
	out := strings.TrimSpace(runGit(e.t, "", "--git-dir", e.remote, "for-each-ref", "--format=%(refname:short)", "refs/heads/bindsync/"))
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// TestIntegrationBackendBranchPushes: on a real API server and a bare
// repository served by git's own receive-pack, a request is rejected only
// when the backend knows its branch was in the repository, every branch is
// pushed on its own merits, and bindsync/ branches the backend did not
// write are left alone.
func TestIntegrationBackendBranchPushes(t *testing.T) {
	cp := startBackendControlPlane(t)

	t.Run("a refused push of an approval branch rejects nothing and fails no other branch", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("push-a", "pg-push", v1alpha1.ApprovalManual)
		e.world("push-b", "pg-push", v1alpha1.ApprovalManual)
		// the remote refuses push-a's approval branch, and only it
		e.installHook("update", "case \"$1\" in refs/heads/bindsync/approve/push-a/*) echo 'refused by policy' >&2; exit 1;; esac\n")
		e.request("push-a", "pg", "pg-push")
		e.request("push-b", "pg", "pg-push")

		e.reconcile()

		assert.Equal(t, []string{staterepo.ApproveBranch("push-b", "pg")}, e.bindsyncBranches(), "push-b's branch landed")
		a := e.getRequest("push-a", "pg")
		assert.Equal(t, v1alpha1.PendingApprovalReason, requestCondition(a, v1alpha1.ApprovedCondition).Reason)
		rendered := requestCondition(a, v1alpha1.RenderedCondition)
		assert.Equal(t, v1alpha1.BranchNotPushedReason, rendered.Reason)
		assert.Contains(t, rendered.Message, staterepo.ApproveBranch("push-a", "pg"))
		assert.Contains(t, rendered.Message, "refused by policy", "the remote's answer")
		assert.Empty(t, a.Status.Revision, "no revision of a branch that is not in the repository")
		b := e.getRequest("push-b", "pg")
		assert.Equal(t, staterepo.ApproveBranch("push-b", "pg")+"@sha1:"+e.head(staterepo.ApproveBranch("push-b", "pg")), b.Status.Revision)

		e.reconcile() // the branch is still refused: still pending, not rejected
		assert.Equal(t, v1alpha1.PendingApprovalReason, requestCondition(e.getRequest("push-a", "pg"), v1alpha1.ApprovedCondition).Reason)

		e.removeHook("update")
		e.reconcile()
		a = e.getRequest("push-a", "pg")
		approved := requestCondition(a, v1alpha1.ApprovedCondition)
		assert.Equal(t, v1alpha1.PendingApprovalReason, approved.Reason, approved.Message)
		assert.Equal(t, v1alpha1.RequestPending, a.Status.Phase)
		require.NotEmpty(t, e.head(staterepo.ApproveBranch("push-a", "pg")), "pushed once the remote accepts it")
		assert.Equal(t, staterepo.ApproveBranch("push-a", "pg")+"@sha1:"+e.head(staterepo.ApproveBranch("push-a", "pg")), a.Status.Revision)

		// a branch that was in the repository and is deleted still rejects
		runGit(t, "", "--git-dir", e.remote, "branch", "-D", staterepo.ApproveBranch("push-a", "pg"))
		e.reconcile()
		assert.Equal(t, v1alpha1.RejectedReason, requestCondition(e.getRequest("push-a", "pg"), v1alpha1.ApprovedCondition).Reason)
		assert.Equal(t, v1alpha1.PendingApprovalReason, requestCondition(e.getRequest("push-b", "pg"), v1alpha1.ApprovedCondition).Reason)
	})

	t.Run("a request named x.lock gets a valid branch, and nobody else is held back or rejected", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		clusters := []string{"lock-0", "lock-1", "lock-2", "lock-3", "lock-4"}
		for _, c := range clusters {
			e.world(c, "pg-lock", v1alpha1.ApprovalManual)
		}
		e.world("lock-auto", "pg-lock-auto", v1alpha1.ApprovalAutomatic)
		e.request("lock-0", "x.lock", "pg-lock")
		for _, c := range clusters[1:] {
			e.request(c, "pg", "pg-lock")
		}
		e.request("lock-auto", "pg", "pg-lock-auto")

		e.reconcile()
		e.reconcile()

		want := []string{"bindsync/approve/lock-0/x.lock_"}
		for _, c := range clusters[1:] {
			want = append(want, staterepo.ApproveBranch(c, "pg"))
		}
		assert.Equal(t, want, e.bindsyncBranches())
		runGit(t, "", "--git-dir", e.remote, "check-ref-format", "refs/heads/bindsync/approve/lock-0/x.lock_")
		for _, c := range clusters {
			name := "pg"
			if c == "lock-0" {
				name = "x.lock"
			}
			q := e.getRequest(c, name)
			approved := requestCondition(q, v1alpha1.ApprovedCondition)
			assert.Equal(t, v1alpha1.PendingApprovalReason, approved.Reason, "%s/%s: %s", c, name, approved.Message)
			assert.Equal(t, metav1.ConditionTrue, requestCondition(q, v1alpha1.RenderedCondition).Status, "%s/%s", c, name)
		}
		// main was pushed and the control plane applied
		auto := e.getRequest("lock-auto", "pg")
		ready := requestCondition(auto, v1alpha1.ReadyCondition)
		assert.Equal(t, metav1.ConditionTrue, ready.Status, ready.Message)
		assert.True(t, e.exists(&rbacv1.RoleBinding{}, v1alpha1.ClusterNamespace("lock-auto"), "bindsync-agent"))

		// and merging the x.lock branch approves it
		work := e.clone()
		runGit(t, work, "merge", "-q", "--no-ff", "-m", "approve x.lock", "origin/bindsync/approve/lock-0/x.lock_")
		runGit(t, work, "push", "-q", "origin", "HEAD:main")
		e.reconcile()
		approved := requestCondition(e.getRequest("lock-0", "x.lock"), v1alpha1.ApprovedCondition)
		assert.Equal(t, metav1.ConditionTrue, approved.Status, approved.Message)
	})

	t.Run("branches under bindsync/ that the backend did not write are neither deleted nor overwritten", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("own-a", "pg-own", v1alpha1.ApprovalManual)
		e.world("own-b", "pg-own-auto", v1alpha1.ApprovalAutomatic)
		e.request("own-a", "pg", "pg-own")
		e.reconcile()
		mine := staterepo.ApproveBranch("own-a", "pg")
		require.NotEmpty(t, e.head(mine))
		assert.Contains(t, e.trailers(e.head(mine)), staterepo.TrailerBranch+": "+mine, "the backend marks the head it writes")

		// a human's branches under bindsync/, one shaped like an approval
		// branch, and a human's commit on top of the pending approval branch
		work := e.clone()
		runGit(t, work, "checkout", "-q", "-b", "bindsync/approve/own-a/someone-elses", "origin/main")
		runGit(t, work, "commit", "-q", "--allow-empty", "-m", "an operator's experiment")
		runGit(t, work, "push", "-q", "origin", "bindsync/approve/own-a/someone-elses")
		runGit(t, work, "checkout", "-q", "-b", "bindsync/notes", "origin/main")
		runGit(t, work, "commit", "-q", "--allow-empty", "-m", "notes")
		runGit(t, work, "push", "-q", "origin", "bindsync/notes")
		runGit(t, work, "checkout", "-q", "-b", "review", "origin/"+mine)
		runGit(t, work, "commit", "-q", "--allow-empty", "-m", "reviewer's note")
		runGit(t, work, "push", "-q", "origin", "HEAD:"+mine)
		theirs := map[string]string{}
		for _, b := range []string{"bindsync/approve/own-a/someone-elses", "bindsync/notes", mine} {
			theirs[b] = e.head(b)
		}

		// main moves (a bind in another cluster), which rebuilds every
		// approval branch the backend owns and deletes those nothing waits on
		e.request("own-b", "pg", "pg-own-auto")
		e.reconcile()
		e.reconcile()

		for b, h := range theirs {
			assert.Equal(t, h, e.head(b), "%s is left as its author left it", b)
		}
		q := e.getRequest("own-a", "pg")
		assert.Equal(t, v1alpha1.PendingApprovalReason, requestCondition(q, v1alpha1.ApprovedCondition).Reason)
		ready := requestCondition(e.getRequest("own-b", "pg"), v1alpha1.ReadyCondition)
		assert.Equal(t, metav1.ConditionTrue, ready.Status, ready.Message)
	})

	t.Run("a branch the backend wrote is still deleted when nothing waits on it", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("own-c", "pg-own-c", v1alpha1.ApprovalManual)
		e.request("own-c", "pg", "pg-own-c")
		e.reconcile()
		require.NotEmpty(t, e.head(staterepo.ApproveBranch("own-c", "pg")))
		q := e.getRequest("own-c", "pg")
		require.NoError(t, cp.Client.Delete(t.Context(), q))
		e.reconcile()
		assert.Empty(t, e.head(staterepo.ApproveBranch("own-c", "pg")), "withdrawn: the backend's own branch is deleted")
	})
}

// newInitReconciler is a backend process started with --init, on a fresh
// clone cache.
func newInitReconciler(t *testing.T, cp *testenv.Cluster, remote string) *backend.Reconciler {
	repo, err := git.Open(context.Background(), git.Options{URL: "file://" + remote, Dir: filepath.Join(t.TempDir(), "cache")})
	require.NoError(t, err)
	applier, err := backend.ControlPlaneApplier(cp.Config)
	require.NoError(t, err)
	rc, err := backend.New(backend.Options{Client: cp.Client, APIReader: cp.Client, Repo: backend.GitRepo(repo), Applier: applier, Init: true})
	require.NoError(t, err)
	return rc
}

// TestIntegrationBackendRemoteLostMain: on a real API server and a bare
// repository, a remote whose main disappears is not taken for an empty
// state: nothing is written, applied or pruned and every request says
// MainBranchLost, by the same process and by a fresh one, until main is
// pushed back; --init starts a new history on purpose.
func TestIntegrationBackendRemoteLostMain(t *testing.T) {
	cp := startBackendControlPlane(t)

	t.Run("a fresh install on an empty remote creates main", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("fresh", "pg-fresh", v1alpha1.ApprovalAutomatic)
		e.request("fresh", "pg", "pg-fresh")
		e.reconcile()
		require.NotEmpty(t, e.head("main"))
		ready := requestCondition(e.getRequest("fresh", "pg"), v1alpha1.ReadyCondition)
		assert.Equal(t, metav1.ConditionTrue, ready.Status, ready.Message)
	})

	t.Run("main deleted on the remote: nothing written, applied or pruned until it is back", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("lost", "pg-lost", v1alpha1.ApprovalManual)
		e.request("lost", "pg", "pg-lost")
		e.reconcile()
		branch := staterepo.ApproveBranch("lost", "pg")
		work := e.clone()
		runGit(t, work, "merge", "-q", "--no-ff", "-m", "approve", "origin/"+branch)
		runGit(t, work, "push", "-q", "origin", "HEAD:main")
		e.reconcile()
		ns := v1alpha1.ClusterNamespace("lost")
		approvedHead := e.head("main")
		q := e.getRequest("lost", "pg")
		require.Equal(t, metav1.ConditionTrue, requestCondition(q, v1alpha1.ApprovedCondition).Status)
		require.True(t, e.exists(&v1alpha1.APIServiceExport{}, ns, backendPGCRD))

		runGit(t, "", "--git-dir", e.remote, "update-ref", "-d", "refs/heads/main")
		e.reconcile()

		assert.Empty(t, e.head("main"), "no new root history")
		assert.Empty(t, e.bindsyncBranches(), "no approval branch written for the approved request")
		q = e.getRequest("lost", "pg")
		ready := requestCondition(q, v1alpha1.ReadyCondition)
		assert.Equal(t, v1alpha1.MainBranchLostReason, ready.Reason)
		assert.Contains(t, ready.Message, "--init")
		assert.Contains(t, ready.Message, approvedHead, "names the last known head")
		assert.Equal(t, metav1.ConditionTrue, requestCondition(q, v1alpha1.ApprovedCondition).Status, "the approval stands")
		assert.True(t, e.exists(&v1alpha1.APIServiceExport{}, ns, backendPGCRD), "nothing pruned")
		assert.True(t, e.exists(&rbacv1.RoleBinding{}, ns, "bindsync-agent"), "nothing pruned")

		// a restarted backend with an empty --data-dir knows it from the request's status
		e.rc = newReconciler(t, cp, e.remote)
		e.reconcile()
		assert.Empty(t, e.head("main"))
		assert.Equal(t, v1alpha1.MainBranchLostReason, requestCondition(e.getRequest("lost", "pg"), v1alpha1.ReadyCondition).Reason)

		// main pushed back: everything goes on from it
		runGit(t, work, "push", "-q", "origin", approvedHead+":refs/heads/main")
		e.reconcile()
		assert.Equal(t, approvedHead, e.head("main"), "nothing new to write")
		q = e.getRequest("lost", "pg")
		ready = requestCondition(q, v1alpha1.ReadyCondition)
		assert.Equal(t, metav1.ConditionTrue, ready.Status, ready.Message)
		assert.Equal(t, "main@sha1:"+approvedHead, q.Status.Revision)

		// an operator who wants a new history says so with --init
		runGit(t, "", "--git-dir", e.remote, "update-ref", "-d", "refs/heads/main")
		e.rc = newInitReconciler(t, cp, e.remote)
		e.reconcile()
		require.NotEmpty(t, e.head("main"), "--init writes a new main")
		assert.NotEqual(t, approvedHead, e.head("main"))
		assert.False(t, e.isAncestor(approvedHead, e.head("main")), "a new root history, as asked")
	})
}

// TestIntegrationBackendPendingBranchesFollowTheirFolder: on a real API
// server and a bare repository, a move of main in other clusters' folders
// rebuilds and pushes no pending approval branch (each still merges
// cleanly into the new main), while a move in a pending request's own
// folder rebuilds its branch on the new main.
func TestIntegrationBackendPendingBranchesFollowTheirFolder(t *testing.T) {
	cp := startBackendControlPlane(t)
	installKeyValueCRD(t, cp)
	e := newBackendEnv(t, cp)
	clusters := []string{"wait-a", "wait-b", "wait-c"}
	for _, c := range clusters {
		e.world(c, "pg-wait", v1alpha1.ApprovalManual)
	}
	e.world("busy", "pg-busy", v1alpha1.ApprovalAutomatic)
	e.template("kv-wait", "keyvalueinstances", v1alpha1.ApprovalAutomatic)
	for _, c := range clusters {
		e.request(c, "pg", "pg-wait")
	}
	e.reconcile()
	before := map[string]string{}
	for _, c := range clusters {
		before[c] = e.head(staterepo.ApproveBranch(c, "pg"))
		require.NotEmpty(t, before[c])
	}
	oldMain := e.head("main")

	e.request("busy", "pg", "pg-busy") // main moves, in another cluster's folder
	e.reconcile()
	require.NotEqual(t, oldMain, e.head("main"), "main moved")
	for _, c := range clusters {
		assert.Equal(t, before[c], e.head(staterepo.ApproveBranch(c, "pg")), "%s: not rebuilt for a change elsewhere", c)
		// and it still merges cleanly into the new main, to what a rebuild would give
		out := runGit(t, "", "--git-dir", e.remote, "merge-tree", "--write-tree", "main", staterepo.ApproveBranch(c, "pg"))
		assert.NotEmpty(t, strings.TrimSpace(out))
	}

	e.request("wait-b", "kv", "kv-wait") // main moves in wait-b's folder
	e.reconcile()
	assert.Equal(t, before["wait-a"], e.head(staterepo.ApproveBranch("wait-a", "pg")))
	rebuilt := e.head(staterepo.ApproveBranch("wait-b", "pg"))
	assert.NotEqual(t, before["wait-b"], rebuilt, "rebuilt: main changed its folder")
	assert.Equal(t, e.head("main"), strings.TrimSpace(runGit(t, "", "--git-dir", e.remote, "rev-parse", rebuilt+"^")), "on the new main")
	q := e.getRequest("wait-b", "pg")
	assert.Equal(t, staterepo.ApproveBranch("wait-b", "pg")+"@sha1:"+rebuilt, q.Status.Revision)

	// main rewritten past a branch's base (the same files, another
	// history, force-pushed): merging that branch would bring the dropped
	// commit back, so it is rebuilt on the new main although no folder moved
	base := e.head("main")
	rewritten := strings.TrimSpace(runGit(t, "", "--git-dir", e.remote, "commit-tree", base+"^{tree}", "-p", base+"^", "-m", "rewritten"))
	runGit(t, "", "--git-dir", e.remote, "update-ref", "refs/heads/main", rewritten)
	e.reconcile()
	require.Equal(t, rewritten, e.head("main"), "nothing new to write")
	rebuiltB := e.head(staterepo.ApproveBranch("wait-b", "pg"))
	assert.NotEqual(t, rebuilt, rebuiltB, "rebuilt: its base is no longer in main's history")
	assert.Equal(t, rewritten, strings.TrimSpace(runGit(t, "", "--git-dir", e.remote, "rev-parse", rebuiltB+"^")))
	assert.Equal(t, before["wait-c"], e.head(staterepo.ApproveBranch("wait-c", "pg")), "wait-c's base is still in main's history")

	// merging a branch that was not rebuilt approves its request
	work := e.clone()
	runGit(t, work, "merge", "-q", "--no-ff", "-m", "approve wait-a", "origin/"+staterepo.ApproveBranch("wait-a", "pg"))
	runGit(t, work, "push", "-q", "origin", "HEAD:main")
	e.reconcile()
	ready := requestCondition(e.getRequest("wait-a", "pg"), v1alpha1.ReadyCondition)
	assert.Equal(t, metav1.ConditionTrue, ready.Status, ready.Message)
}
