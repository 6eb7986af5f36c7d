package integration

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// TestIntegrationBackend runs the backend on a real API server of its own
// and a bare repository over file://. The subtests share the server and run
// one after another, each with its own clusters, templates and repository.
func TestIntegrationBackend(t *testing.T) {
	cp := startBackendControlPlane(t)

	t.Run("a request becomes a bind commit, RBAC and an export, and Ready at that revision", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("flow-a", "pg-auto", v1alpha1.ApprovalAutomatic)
		e.request("flow-a", "pg", "pg-auto")

		e.reconcile()

		head := e.head("main")
		require.NotEmpty(t, head)
		assert.Equal(t, "bind: flow-a <- pg-auto", e.subjects()[0])
		tr := e.trailers(head)
		for _, want := range []string{"Bindsync-Cluster: flow-a", "Bindsync-Request: bindsync-flow-a/pg", "Bindsync-Template: pg-auto",
			"Bindsync-Schema-Hash: " + backendPGCRD + "=", "Bindsync-Cause: bind"} {
			assert.Contains(t, tr, want)
		}
		files := runGit(t, "", "--git-dir", e.remote, "ls-tree", "-r", "--name-only", "main")
		assert.Contains(t, files, "clusters/flow-a/control-plane/exports/"+backendPGCRD+".yaml")
		assert.Contains(t, files, "clusters/flow-a/app/crds/"+backendPGCRD+".yaml")

		ns := v1alpha1.ClusterNamespace("flow-a")
		assert.True(t, e.exists(&rbacv1.Role{}, ns, "bindsync-agent"), "Role")
		assert.True(t, e.exists(&rbacv1.RoleBinding{}, ns, "bindsync-agent"), "RoleBinding")
		var exp v1alpha1.APIServiceExport
		require.True(t, e.exists(&exp, ns, backendPGCRD), "APIServiceExport")
		assert.Equal(t, "true", exp.Labels[v1alpha1.ManagedLabel])
		q := e.getRequest("flow-a", "pg")
		ready := requestCondition(q, v1alpha1.ReadyCondition)
		assert.Equal(t, metav1.ConditionTrue, ready.Status, ready.Message)
		assert.Equal(t, "main@sha1:"+head, q.Status.Revision)
		assert.Equal(t, v1alpha1.RequestSucceeded, q.Status.Phase)
		require.Len(t, q.Status.Exports, 1)
		assert.Equal(t, exp.Spec.SchemaHash, q.Status.Exports[0].SchemaHash)

		t.Run("a second reconcile with nothing new writes nothing", func(t *testing.T) {
			objects := countObjects(t, e.remote)
			rvs := []string{q.ResourceVersion, exp.ResourceVersion}
			e.reconcile()
			assert.Equal(t, head, e.head("main"), "no commit, no push")
			assert.Equal(t, objects, countObjects(t, e.remote), "no object written to git")
			var again v1alpha1.APIServiceExport
			require.True(t, e.exists(&again, ns, backendPGCRD))
			assert.Equal(t, rvs, []string{e.getRequest("flow-a", "pg").ResourceVersion, again.ResourceVersion}, "no API write")
		})

		t.Run("a deleted request is unbound; objects bindsync did not create stay", func(t *testing.T) {
			foreign := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "team-own", Namespace: ns}}
			require.NoError(t, cp.Client.Create(context.Background(), foreign))
			require.NoError(t, cp.Client.Delete(context.Background(), e.getRequest("flow-a", "pg")))
			e.reconcile()
			assert.Equal(t, "unbind: flow-a <- pg-auto", e.subjects()[0])
			assert.Contains(t, e.trailers("main"), "Bindsync-Cause: unbind")
			assert.False(t, e.exists(&v1alpha1.APIServiceExport{}, ns, backendPGCRD), "export pruned")
			var role rbacv1.Role
			require.True(t, e.exists(&role, ns, "bindsync-agent"))
			for _, r := range role.Rules {
				assert.NotContains(t, r.Resources, "postgresqlinstances", "the RBAC for the bound resource is gone")
			}
			assert.True(t, e.exists(&rbacv1.Role{}, ns, "team-own"), "an object bindsync did not create is never pruned")
		})
	})

	t.Run("a Manual request waits on its branch until merged by git, squash or rebase", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("flow-m", "pg-manual", v1alpha1.ApprovalManual)
		merges := map[string]func(dir, branch string){
			"merge": func(dir, branch string) {
				runGit(t, dir, "merge", "-q", "--no-ff", "-m", "Merge "+branch, "origin/"+branch)
			},
			"squash": func(dir, branch string) {
				runGit(t, dir, "merge", "-q", "--squash", "origin/"+branch)
				runGit(t, dir, "commit", "-q", "-m", "Approve "+branch)
			},
			"rebase": func(dir, branch string) { runGit(t, dir, "cherry-pick", "origin/"+branch) },
		}
		for _, how := range []string{"merge", "squash", "rebase"} {
			t.Run(how, func(t *testing.T) {
				name := "pg-" + how
				// Each subtest binds the CRD to one cluster of its own.
				cluster := "flow-m-" + how
				e.world(cluster, "pg-manual", v1alpha1.ApprovalManual)
				e.request(cluster, name, "pg-manual")
				mainBefore := func() string { e.reconcile(); return e.head("main") }()
				branch := staterepo.ApproveBranch(cluster, name)
				require.NotEmpty(t, e.head(branch), "approval branch pushed")
				approved := requestCondition(e.getRequest(cluster, name), v1alpha1.ApprovedCondition)
				assert.Equal(t, v1alpha1.PendingApprovalReason, approved.Reason)
				assert.Contains(t, approved.Message, branch)
				files := runGit(t, "", "--git-dir", e.remote, "ls-tree", "-r", "--name-only", "main")
				assert.NotContains(t, files, "clusters/"+cluster+"/control-plane/exports/", "main untouched")

				dir := e.clone()
				merges[how](dir, branch)
				runGit(t, dir, "push", "-q", "origin", "main")
				runGit(t, dir, "push", "-q", "origin", "--delete", branch)
				e.reconcile()

				q := e.getRequest(cluster, name)
				assert.Equal(t, metav1.ConditionTrue, requestCondition(q, v1alpha1.ApprovedCondition).Status,
					requestCondition(q, v1alpha1.ApprovedCondition).Message)
				assert.Equal(t, metav1.ConditionTrue, requestCondition(q, v1alpha1.ReadyCondition).Status,
					requestCondition(q, v1alpha1.ReadyCondition).Message)
				assert.True(t, e.exists(&v1alpha1.APIServiceExport{}, v1alpha1.ClusterNamespace(cluster), backendPGCRD), "rolled out")
				assert.NotEqual(t, mainBefore, e.head("main"))
				assert.Empty(t, e.head(branch), "no branch recreated")
			})
		}

		t.Run("a deleted branch rejects the request", func(t *testing.T) {
			e.world("flow-m-reject", "pg-manual", v1alpha1.ApprovalManual)
			e.request("flow-m-reject", "pg", "pg-manual")
			e.reconcile()
			branch := staterepo.ApproveBranch("flow-m-reject", "pg")
			require.NotEmpty(t, e.head(branch))
			runGit(t, "", "--git-dir", e.remote, "branch", "-D", branch)
			e.reconcile()
			q := e.getRequest("flow-m-reject", "pg")
			assert.Equal(t, v1alpha1.RejectedReason, requestCondition(q, v1alpha1.ApprovedCondition).Reason)
			assert.Equal(t, v1alpha1.RequestFailed, q.Status.Phase)
			assert.Empty(t, e.head(branch), "a rejection is not undone")
		})
	})

	t.Run("a reverted bind commit rejects the request and unbinds it", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("flow-r", "pg-revert", v1alpha1.ApprovalAutomatic)
		e.request("flow-r", "pg", "pg-revert")
		e.reconcile()
		require.Equal(t, "bind: flow-r <- pg-revert", e.subjects()[0])
		dir := e.clone()
		runGit(t, dir, "revert", "--no-edit", "HEAD")
		runGit(t, dir, "push", "-q", "origin", "main")
		reverted := e.head("main")

		e.reconcile()

		assert.Equal(t, "revoke: flow-r <- pg-revert", e.subjects()[0], "the revert is recorded, not bound again")
		assert.Equal(t, reverted, runGit(t, "", "--git-dir", e.remote, "rev-parse", "main~1")[:len(reverted)])
		files := runGit(t, "", "--git-dir", e.remote, "ls-tree", "-r", "--name-only", "main")
		assert.Contains(t, files, "clusters/flow-r/revoked/pg-revert")
		assert.NotContains(t, files, "clusters/flow-r/control-plane/exports/")
		q := e.getRequest("flow-r", "pg")
		approved := requestCondition(q, v1alpha1.ApprovedCondition)
		assert.Equal(t, v1alpha1.RejectedReason, approved.Reason)
		assert.Contains(t, approved.Message, "reverted")
		assert.False(t, e.exists(&v1alpha1.APIServiceExport{}, v1alpha1.ClusterNamespace("flow-r"), backendPGCRD), "what main no longer holds leaves the control plane")
	})

	t.Run("schema changes: non-breaking rolls out in one commit, breaking is held", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("flow-s1", "pg-schema", v1alpha1.ApprovalAutomatic)
		e.world("flow-s2", "pg-schema", v1alpha1.ApprovalAutomatic)
		e.request("flow-s1", "pg", "pg-schema")
		e.request("flow-s2", "pg", "pg-schema")
		e.reconcile()
		before := len(e.subjects())

		editCRD(t, cp.Client, func(spec *apiextensionsv1.JSONSchemaProps) {
			spec.Properties["tier"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
		})
		e.reconcile()
		subjects := e.subjects()
		require.Len(t, subjects, before+1, "one commit")
		assert.True(t, strings.HasPrefix(subjects[0], "schema: "+backendPGCRD+" "), subjects[0])
		assert.Contains(t, subjects[0], "(non-breaking)")
		assert.Contains(t, e.trailers("main"), "Bindsync-Compat: non-breaking")
		show := runGit(t, "", "--git-dir", e.remote, "show", "--stat", "--format=", "main")
		assert.Contains(t, show, "flow-s1/")
		assert.Contains(t, show, "flow-s2/")

		held := e.head("main")
		editCRD(t, cp.Client, func(spec *apiextensionsv1.JSONSchemaProps) { delete(spec.Properties, "expose") })
		e.reconcile()
		assert.Equal(t, held, e.head("main"), "main unchanged")
		branches := runGit(t, "", "--git-dir", e.remote, "branch", "--list", "bindsync/schema/*")
		require.Contains(t, branches, "bindsync/schema/"+backendPGCRD+"/")
		ready := requestCondition(e.getRequest("flow-s1", "pg"), v1alpha1.ReadyCondition)
		assert.Equal(t, v1alpha1.SchemaBreakingReason, ready.Reason)
		assert.Contains(t, ready.Message, ".spec.expose")
		var tpl v1alpha1.APIServiceExportTemplate
		require.NoError(t, cp.Client.Get(context.Background(), client.ObjectKey{Name: "pg-schema"}, &tpl))
		assert.Contains(t, tpl.Status.Conditions[0].Reason, v1alpha1.SchemaBreakingReason)

		branch := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(branches), "*"))
		dir := e.clone()
		runGit(t, dir, "merge", "-q", "--no-ff", "-m", "Approve breaking change", "origin/"+branch)
		runGit(t, dir, "push", "-q", "origin", "main")
		e.reconcile()
		ready = requestCondition(e.getRequest("flow-s1", "pg"), v1alpha1.ReadyCondition)
		assert.Equal(t, metav1.ConditionTrue, ready.Status, ready.Message)
		assert.Empty(t, e.head(branch), "the merged schema branch is cleaned up")
	})

	t.Run("an unreachable remote is reported; the backend completes when it is back", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("flow-u", "pg-outage", v1alpha1.ApprovalAutomatic)
		e.reconcile()
		away := e.remote + ".away"
		require.NoError(t, os.Rename(e.remote, away))
		e.request("flow-u", "pg", "pg-outage")

		e.reconcile()

		ready := requestCondition(e.getRequest("flow-u", "pg"), v1alpha1.ReadyCondition)
		assert.Equal(t, metav1.ConditionFalse, ready.Status)
		assert.Equal(t, v1alpha1.GitUnavailableReason, ready.Reason)

		require.NoError(t, os.Rename(away, e.remote))
		e.rc = newReconciler(t, cp, e.remote) // and a restart on the way
		e.reconcile()
		ready = requestCondition(e.getRequest("flow-u", "pg"), v1alpha1.ReadyCondition)
		assert.Equal(t, metav1.ConditionTrue, ready.Status, ready.Message)
		binds := 0
		for _, s := range e.subjects() {
			if s == "bind: flow-u <- pg-outage" {
				binds++
			}
		}
		assert.Equal(t, 1, binds, "no duplicate commit")
	})

	t.Run("bindsync backend runs the reconciler in a manager, with a repository in --data-dir", func(t *testing.T) {
		testBackendCommand(t, cp)
	})
}

// editCRD changes the spec schema of the PostgreSQL CRD on the control plane.
func editCRD(t *testing.T, c client.Client, edit func(spec *apiextensionsv1.JSONSchemaProps)) {
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Name: backendPGCRD}, &crd))
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	edit(&spec)
	crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
	require.NoError(t, c.Update(context.Background(), &crd))
}

// countObjects counts the objects in a bare repository.
func countObjects(t *testing.T, gitDir string) string {
	out := runGit(t, "", "--git-dir", gitDir, "count-objects", "-v")
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "count:") || strings.HasPrefix(l, "in-pack:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, " ")
}
