package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

const backendKVCRD = "keyvalueinstances.anynines.com"

// installKeyValueCRD adds a second Klutch CRD, so one cluster can hold two
// requests (two requests binding one CRD in one cluster conflict).
func installKeyValueCRD(t *testing.T, cp *testenv.Cluster) {
	names, err := cp.InstallCRDs(context.Background(), filepath.Join(moduleRoot(t), "testdata", "crds", "klutch", backendKVCRD+".yaml"))
	require.NoError(t, err)
	require.NoError(t, cp.WaitEstablished(context.Background(), names...))
}

// template creates a template binding one CRD of anynines.com.
func (e *backendEnv) template(name, resource string, approval v1alpha1.ApprovalPolicy) {
	e.create(&v1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.APIServiceExportTemplateSpec{Approval: approval,
			Resources: []v1alpha1.GroupResource{{Group: "anynines.com", Resource: resource}}},
	})
}

// racingRepo lets another writer push to main right before the backend's
// first push of main: the backend has fetched and committed on the old head.
type racingRepo struct {
	backend.Repo
	once  sync.Once
	other func()
}

func (r *racingRepo) Push(ctx context.Context, branch string, old, new plumbing.Hash) error {
	if branch == backend.DefaultBranch {
		r.once.Do(r.other)
	}
	return r.Repo.Push(ctx, branch, old, new)
}

// isAncestor reports whether commit a is in the history of b.
func (e *backendEnv) isAncestor(a, b string) bool {
	err := exec.Command("git", "--git-dir", e.remote, "merge-base", "--is-ancestor", a, b).Run()
	return err == nil
}

// TestIntegrationBackendScenarios covers what the plan's table tests prove
// on the pure layer, on a real API server and a bare repository over
// file://: a race with another writer, two pending approvals of one
// cluster, a template that gains a typo, and bad requests next to good ones.
func TestIntegrationBackendScenarios(t *testing.T) {
	cp := startBackendControlPlane(t)
	installKeyValueCRD(t, cp)

	t.Run("another writer pushes to main between fetch and push: both changes survive in history", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("race", "pg-race", v1alpha1.ApprovalAutomatic)
		e.request("race", "pg", "pg-race")
		var other string
		e.rc = newReconcilerWith(t, cp, git.Options{URL: "file://" + e.remote}, func(r backend.Repo) backend.Repo {
			return &racingRepo{Repo: r, other: func() {
				dir := e.clone()
				require.NoError(t, os.WriteFile(filepath.Join(dir, "CODEOWNERS"), []byte("* @platform\n"), 0o644))
				runGit(t, dir, "add", "CODEOWNERS")
				runGit(t, dir, "commit", "-q", "-m", "owners of the state repository")
				runGit(t, dir, "push", "-q", "origin", "main")
				other = strings.TrimSpace(runGit(t, dir, "rev-parse", "HEAD"))
			}}
		})

		retries, pushes := registryValue(t, "bindsync_backend_push_retries_total"), registryValue(t, "bindsync_backend_pushes_total")

		e.reconcile()

		require.NotEmpty(t, other, "the other writer pushed while the backend was between fetch and push")
		assert.Equal(t, 1.0, registryValue(t, "bindsync_backend_push_retries_total")-retries, "push_retries_total counts the lost race")
		assert.Equal(t, 1.0, registryValue(t, "bindsync_backend_pushes_total")-pushes, "pushes_total counts the push that succeeded")
		head := e.head("main")
		assert.Equal(t, "bind: race <- pg-race", e.subjects()[0], "the backend's commit is on main")
		assert.True(t, e.isAncestor(other, head), "the other writer's commit %s is in main's history", other)
		assert.Equal(t, other, strings.TrimSpace(runGit(t, "", "--git-dir", e.remote, "rev-parse", "main^")),
			"the bind commit was rendered again on the other writer's commit")
		assert.Equal(t, "* @platform\n", runGit(t, "", "--git-dir", e.remote, "show", "main:CODEOWNERS"), "the other writer's file stays")
		files := runGit(t, "", "--git-dir", e.remote, "ls-tree", "-r", "--name-only", "main")
		assert.Contains(t, files, "clusters/race/control-plane/exports/"+backendPGCRD+".yaml")
		binds := 0
		for _, s := range e.subjects() {
			if s == "bind: race <- pg-race" {
				binds++
			}
		}
		assert.Equal(t, 1, binds, "one bind commit, not one per attempt")
		q := e.getRequest("race", "pg")
		ready := requestCondition(q, v1alpha1.ReadyCondition)
		assert.Equal(t, metav1.ConditionTrue, ready.Status, ready.Message)
		assert.Equal(t, "main@sha1:"+head, q.Status.Revision)
	})

	t.Run("two pending Manual requests of one cluster: one merged, the other is rebuilt on the new main and still merges cleanly", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("twice", "pg-twice", v1alpha1.ApprovalManual)
		e.template("kv-twice", "keyvalueinstances", v1alpha1.ApprovalManual)
		e.request("twice", "pg", "pg-twice")
		e.request("twice", "kv", "kv-twice")
		e.reconcile()
		pgBranch, kvBranch := staterepo.ApproveBranch("twice", "pg"), staterepo.ApproveBranch("twice", "kv")
		require.NotEmpty(t, e.head(pgBranch))
		oldKV := e.head(kvBranch)
		require.NotEmpty(t, oldKV)
		mainBefore := e.head("main")
		require.Equal(t, mainBefore, strings.TrimSpace(runGit(t, "", "--git-dir", e.remote, "rev-parse", kvBranch+"^")),
			"each approval branch is one commit on main")

		dir := e.clone()
		runGit(t, dir, "merge", "-q", "--no-ff", "-m", "Approve pg", "origin/"+pgBranch)
		runGit(t, dir, "push", "-q", "origin", "main")
		merged := e.head("main")
		// Without a rebuild, the kv branch would conflict with the merged pg:
		// both edit the cluster's Role and kustomization.
		_, err := exec.Command("git", "--git-dir", e.remote, "merge-tree", "--write-tree", merged, oldKV).Output()
		require.Error(t, err, "the precondition: merging the kv branch as first built would conflict")

		e.reconcile()

		ns := v1alpha1.ClusterNamespace("twice")
		assert.True(t, e.exists(&v1alpha1.APIServiceExport{}, ns, backendPGCRD), "the merged request rolled out")
		assert.Equal(t, metav1.ConditionTrue, requestCondition(e.getRequest("twice", "pg"), v1alpha1.ReadyCondition).Status)
		assert.Empty(t, e.head(pgBranch), "the merged branch is cleaned up")
		newKV := e.head(kvBranch)
		require.NotEmpty(t, newKV, "the pending branch stays")
		assert.NotEqual(t, oldKV, newKV, "the pending branch was rebuilt")
		assert.Equal(t, merged, strings.TrimSpace(runGit(t, "", "--git-dir", e.remote, "rev-parse", kvBranch+"^")),
			"rebuilt as one commit on the new main")
		assert.Contains(t, e.trailers(newKV), "Bindsync-Base: "+merged)
		kv := e.getRequest("twice", "kv")
		assert.Equal(t, v1alpha1.PendingApprovalReason, requestCondition(kv, v1alpha1.ApprovedCondition).Reason)
		assert.Equal(t, kvBranch+"@sha1:"+newKV, kv.Status.Revision)
		assert.False(t, e.exists(&v1alpha1.APIServiceExport{}, ns, backendKVCRD), "a pending request is not applied")

		dir = e.clone()
		runGit(t, dir, "merge", "-q", "--no-ff", "-m", "Approve kv", "origin/"+kvBranch)
		runGit(t, dir, "push", "-q", "origin", "main")
		e.reconcile()

		for _, name := range []string{"pg", "kv"} {
			ready := requestCondition(e.getRequest("twice", name), v1alpha1.ReadyCondition)
			assert.Equal(t, metav1.ConditionTrue, ready.Status, "%s: %s", name, ready.Message)
		}
		assert.True(t, e.exists(&v1alpha1.APIServiceExport{}, ns, backendPGCRD), "the first approval stays")
		assert.True(t, e.exists(&v1alpha1.APIServiceExport{}, ns, backendKVCRD), "the second approval rolled out")
		assert.Empty(t, e.head(kvBranch))
	})

	t.Run("a template that gains a typo keeps its clusters' last good files in main and its status says why", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("typo-a", "pg-typo", v1alpha1.ApprovalAutomatic)
		e.world("typo-b", "pg-typo", v1alpha1.ApprovalAutomatic)
		e.request("typo-a", "pg", "pg-typo")
		e.request("typo-b", "pg", "pg-typo")
		e.reconcile()
		good := e.head("main")
		exportsBefore := e.getRequest("typo-a", "pg").Status.Exports
		require.Len(t, exportsBefore, 1)
		folders := func() string {
			return runGit(t, "", "--git-dir", e.remote, "rev-parse", "main:clusters/typo-a", "main:clusters/typo-b")
		}
		goodFolders := folders()

		editTemplate(t, cp.Client, "pg-typo", func(s *v1alpha1.APIServiceExportTemplateSpec) {
			s.Resources[0].Resource = "postgresqlinstance" // the plural's s forgotten
		})
		e.world("typo-c", "pg-typo-other", v1alpha1.ApprovalAutomatic)
		e.request("typo-c", "pg", "pg-typo-other") // another template, bound while the typo is there

		e.reconcile()

		assert.Equal(t, goodFolders, folders(), "the clusters of the bad template keep their last good files")
		for _, s := range e.subjects() {
			assert.NotContains(t, s, "unbind", "nothing is unbound")
		}
		assert.Equal(t, "bind: typo-c <- pg-typo-other", e.subjects()[0], "another template's cluster is unaffected")
		assert.True(t, e.isAncestor(good, e.head("main")))
		var tpl v1alpha1.APIServiceExportTemplate
		require.NoError(t, cp.Client.Get(context.Background(), client.ObjectKey{Name: "pg-typo"}, &tpl))
		tready := templateCondition(&tpl, v1alpha1.ReadyCondition)
		assert.Equal(t, metav1.ConditionFalse, tready.Status)
		assert.Equal(t, v1alpha1.CRDNotFoundReason, tready.Reason)
		assert.Contains(t, tready.Message, "postgresqlinstance.anynines.com")
		assert.Contains(t, tready.Message, "last good files")
		assert.Equal(t, int32(2), tpl.Status.BoundClusters, "both clusters are still bound")
		for _, c := range []string{"typo-a", "typo-b"} {
			q := e.getRequest(c, "pg")
			ready := requestCondition(q, v1alpha1.ReadyCondition)
			assert.Equal(t, metav1.ConditionFalse, ready.Status, c)
			assert.Equal(t, v1alpha1.InvalidTemplateReason, ready.Reason, c)
			assert.Contains(t, ready.Message, `template "pg-typo" cannot be rendered`, c)
			assert.Contains(t, ready.Message, "postgresqlinstance.anynines.com", c)
			assert.Contains(t, ready.Message, "keeps its last good files in main", c)
			assert.Equal(t, v1alpha1.RequestSucceeded, q.Status.Phase, "%s: still bound, not Failed", c)
			assert.Equal(t, exportsBefore[0].SchemaHash, func() string {
				if len(q.Status.Exports) == 0 {
					return ""
				}
				return q.Status.Exports[0].SchemaHash
			}(), "%s: status keeps the exports main still holds", c)
			assert.Equal(t, metav1.ConditionTrue, requestCondition(q, v1alpha1.ApprovedCondition).Status, c)
			assert.True(t, e.exists(&v1alpha1.APIServiceExport{}, v1alpha1.ClusterNamespace(c), backendPGCRD), "%s keeps its export", c)
		}
		assert.Equal(t, metav1.ConditionTrue, requestCondition(e.getRequest("typo-c", "pg"), v1alpha1.ReadyCondition).Status)

		editTemplate(t, cp.Client, "pg-typo", func(s *v1alpha1.APIServiceExportTemplateSpec) {
			s.Resources[0].Resource = "postgresqlinstances"
		})
		fixed := e.head("main")
		e.reconcile()
		assert.Equal(t, fixed, e.head("main"), "the fixed template renders what main already holds: no commit")
		require.NoError(t, cp.Client.Get(context.Background(), client.ObjectKey{Name: "pg-typo"}, &tpl))
		assert.Equal(t, metav1.ConditionTrue, templateCondition(&tpl, v1alpha1.ReadyCondition).Status)
		for _, c := range []string{"typo-a", "typo-b"} {
			ready := requestCondition(e.getRequest(c, "pg"), v1alpha1.ReadyCondition)
			assert.Equal(t, metav1.ConditionTrue, ready.Status, "%s: %s", c, ready.Message)
		}
	})

	t.Run("a request for an unknown template, a request of no AppCluster and an invalid cluster name leave other clusters unaffected", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("bad-ok", "pg-ok", v1alpha1.ApprovalAutomatic)

		err := cp.Client.Create(context.Background(), &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "bad.cluster"}})
		require.Error(t, err, "an AppCluster name that is not a DNS-1123 label")
		assert.True(t, apierrors.IsInvalid(err), "%v", err)
		assert.Contains(t, err.Error(), "DNS-1123 label")
		long := strings.Repeat("x", v1alpha1.MaxClusterNameLength+1)
		err = cp.Client.Create(context.Background(), &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: long}})
		require.Error(t, err, "an AppCluster name too long for its namespace")
		assert.True(t, apierrors.IsInvalid(err), "%v", err)

		e.world("bad-ghost", "pg-ok", v1alpha1.ApprovalAutomatic)
		before := e.head("main")
		e.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterNamespace("bad-none")}})
		e.request("bad-none", "pg", "pg-ok")          // no AppCluster bad-none
		e.request("bad-ghost", "ghost", "pg-no-such") // no such template
		e.request("bad-ok", "pg", "pg-ok")            // the good one, in the same reconcile

		e.reconcile()

		subjects := e.subjects()
		assert.Equal(t, "bind: bad-ok <- pg-ok", subjects[0], "the good request is bound")
		assert.Equal(t, before, strings.TrimSpace(runGit(t, "", "--git-dir", e.remote, "rev-parse", "main^")), "by one commit")
		files := runGit(t, "", "--git-dir", e.remote, "ls-tree", "-r", "--name-only", "main")
		assert.NotContains(t, files, "clusters/bad-none/", "a request of no AppCluster renders nothing")
		assert.NotContains(t, files, "clusters/bad-ghost/control-plane/exports/", "a request for an unknown template renders nothing")
		assert.Equal(t, metav1.ConditionTrue, requestCondition(e.getRequest("bad-ok", "pg"), v1alpha1.ReadyCondition).Status)
		assert.True(t, e.exists(&v1alpha1.APIServiceExport{}, v1alpha1.ClusterNamespace("bad-ok"), backendPGCRD))
		for _, c := range []struct{ cluster, name, reason, says string }{
			{"bad-ghost", "ghost", v1alpha1.TemplateNotFoundReason, `template "pg-no-such" does not exist`},
			{"bad-none", "pg", v1alpha1.ClusterNotFoundReason, `no AppCluster "bad-none"`},
		} {
			q := e.getRequest(c.cluster, c.name)
			ready := requestCondition(q, v1alpha1.ReadyCondition)
			assert.Equal(t, metav1.ConditionFalse, ready.Status, c.name)
			assert.Equal(t, c.reason, ready.Reason, "%s/%s: %s", c.cluster, c.name, ready.Message)
			assert.Contains(t, ready.Message, c.says)
			assert.Equal(t, v1alpha1.RequestFailed, q.Status.Phase, "%s/%s", c.cluster, c.name)
		}

		head := e.head("main")
		e.reconcile()
		assert.Equal(t, head, e.head("main"), "the bad requests cause no commit on the next reconcile")
	})

	t.Run("a bad request holds back only itself: a good request of its cluster binds", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("held", "pg-held", v1alpha1.ApprovalAutomatic)
		e.request("held", "ghost", "pg-no-such")
		e.request("held", "pg", "pg-held")
		e.reconcile()

		assert.Equal(t, "bind: held <- pg-held", e.subjects()[0])
		ready := requestCondition(e.getRequest("held", "pg"), v1alpha1.ReadyCondition)
		assert.Equal(t, metav1.ConditionTrue, ready.Status, ready.Message)
		ghost := e.getRequest("held", "ghost")
		assert.Equal(t, v1alpha1.TemplateNotFoundReason, requestCondition(ghost, v1alpha1.ReadyCondition).Reason)
		assert.Equal(t, v1alpha1.RequestFailed, ghost.Status.Phase)
	})
}

// registryValue reads a counter or gauge of the backend's (registered as
// `bindsync backend` registers them with the metrics endpoint's registry).
func registryValue(t *testing.T, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(backend.Metrics()...)
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		require.Len(t, f.GetMetric(), 1, name)
		m := f.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	require.Failf(t, "no such metric", "%s is not registered", name)
	return 0
}

func editTemplate(t *testing.T, c client.Client, name string, edit func(*v1alpha1.APIServiceExportTemplateSpec)) {
	var tpl v1alpha1.APIServiceExportTemplate
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Name: name}, &tpl))
	edit(&tpl.Spec)
	require.NoError(t, c.Update(context.Background(), &tpl))
}

func templateCondition(t *v1alpha1.APIServiceExportTemplate, typ string) metav1.Condition {
	for _, c := range t.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}
