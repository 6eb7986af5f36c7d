package integration

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/testenv"
)

// kstatusOf reads kind/namespace/name from the API server as unstructured,
// as a GitOps tool reads it, and computes its kstatus.
func kstatusOf(ctx context.Context, t *testing.T, c *testenv.Cluster, kind, namespace, name string) *status.Result {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(kind))
	require.NoError(t, c.Client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u))
	res, err := status.Compute(u)
	require.NoError(t, err, "kstatus of %s %s/%s", kind, namespace, name)
	return res
}

// requireKstatus asserts kstatus's verdict on an object and that its
// message carries the reason bindsync gave (empty: not checked).
func requireKstatus(ctx context.Context, t *testing.T, c *testenv.Cluster, want status.Status, reason, kind, namespace, name string) {
	t.Helper()
	res := kstatusOf(ctx, t, c, kind, namespace, name)
	assert.Equal(t, want, res.Status, "kstatus of %s %s/%s: %s", kind, namespace, name, res.Message)
	if reason != "" && want == status.FailedStatus {
		require.NotEmpty(t, res.Conditions, "a Failed %s names its Stalled condition", kind)
		assert.Equal(t, reason, res.Conditions[0].Reason, "%s %s/%s", kind, namespace, name)
	}
}

// TestIntegrationHealthKstatus runs the backend on a real control plane and
// reads requests, templates and AppClusters with kstatus (what Flux's wait,
// Argo CD's health and kubectl wait rely on) in each state: Current when
// Ready, Failed (Stalled) for what needs a human (a missing template, a
// pending approval, a template whose CRD is missing), InProgress
// (Reconciling) while the git remote is away and while a spec change is
// not observed yet. AppClusters get a status at all: namespace, revision,
// Ready.
func TestIntegrationHealthKstatus(t *testing.T) {
	ctx := testContext(t)
	cp := startBackendControlPlane(t)
	e := newBackendEnv(t, cp)
	e.world("hc1", "hpg", v1alpha1.ApprovalAutomatic)
	e.world("hc2", "hpg-manual", v1alpha1.ApprovalManual)
	e.world("hc3", "hpg", v1alpha1.ApprovalAutomatic)
	e.request("hc1", "pg", "hpg")
	e.request("hc3", "ghost", "no-such-template")
	t.Run("a new request reads InProgress until the backend writes its status", func(t *testing.T) {
		requireKstatus(ctx, t, cp, status.InProgressStatus, "", "APIServiceExportRequest", "bindsync-hc1", "pg")
	})
	e.request("hc2", "pg", "hpg-manual")
	e.create(&v1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "hbroken"},
		Spec: v1alpha1.APIServiceExportTemplateSpec{
			Resources: []v1alpha1.GroupResource{{Group: "nowhere.bindsync.test", Resource: "things"}}},
	})
	e.reconcile()
	e.reconcile()

	t.Run("current, and failed for what needs a human", func(t *testing.T) {
		for _, tc := range []struct {
			kind, namespace, name string
			want                  status.Status
			reason                string
		}{
			{"APIServiceExportRequest", "bindsync-hc1", "pg", status.CurrentStatus, ""},
			{"APIServiceExportRequest", "bindsync-hc3", "ghost", status.FailedStatus, v1alpha1.TemplateNotFoundReason},
			{"APIServiceExportRequest", "bindsync-hc2", "pg", status.FailedStatus, v1alpha1.PendingApprovalReason},
			{"APIServiceExportTemplate", "", "hpg", status.CurrentStatus, ""},
			{"APIServiceExportTemplate", "", "hbroken", status.FailedStatus, v1alpha1.CRDNotFoundReason},
			{"AppCluster", "", "hc1", status.CurrentStatus, ""},
			{"AppCluster", "", "hc2", status.CurrentStatus, ""},
		} {
			requireKstatus(ctx, t, cp, tc.want, tc.reason, tc.kind, tc.namespace, tc.name)
		}
	})

	t.Run("an AppCluster's status is written", func(t *testing.T) {
		var c v1alpha1.AppCluster
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Name: "hc1"}, &c))
		assert.Equal(t, "bindsync-hc1", c.Status.Namespace)
		last := strings.TrimSpace(runGit(t, "", "--git-dir", e.remote, "log", "-1", "--format=%H", "main", "--", "clusters/hc1"))
		assert.Equal(t, "main@sha1:"+last, c.Status.Revision, "the commit that last changed clusters/hc1")
		assert.Equal(t, c.Generation, c.Status.ObservedGeneration)
		ready := findCondition(c.Status.Conditions, v1alpha1.ReadyCondition)
		require.NotNil(t, ready)
		assert.Equal(t, metav1.ConditionTrue, ready.Status, ready.Message)
	})

	t.Run("a spec change reads InProgress until observed", func(t *testing.T) {
		var tpl v1alpha1.APIServiceExportTemplate
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Name: "hpg"}, &tpl))
		tpl.Spec.SchemaUpdatePolicy = v1alpha1.SchemaUpdateAlways
		require.NoError(t, cp.Client.Update(ctx, &tpl))
		requireKstatus(ctx, t, cp, status.InProgressStatus, "", "APIServiceExportTemplate", "", "hpg")
		e.reconcile()
		requireKstatus(ctx, t, cp, status.CurrentStatus, "", "APIServiceExportTemplate", "", "hpg")
	})

	t.Run("in progress while the git remote is away", func(t *testing.T) {
		away := e.remote + ".away"
		require.NoError(t, os.Rename(e.remote, away))
		e.reconcile()
		for _, o := range [][3]string{{"APIServiceExportRequest", "bindsync-hc1", "pg"}, {"AppCluster", "", "hc1"}} {
			res := kstatusOf(ctx, t, cp, o[0], o[1], o[2])
			assert.Equal(t, status.InProgressStatus, res.Status, "%v: %s", o, res.Message)
		}
		var q v1alpha1.APIServiceExportRequest
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: "bindsync-hc1", Name: "pg"}, &q))
		rec := findCondition(q.Status.Conditions, v1alpha1.ReconcilingCondition)
		require.NotNil(t, rec, "Reconciling says why: %+v", q.Status.Conditions)
		assert.Equal(t, v1alpha1.GitUnavailableReason, rec.Reason)
		assert.Nil(t, findCondition(q.Status.Conditions, v1alpha1.StalledCondition))

		require.NoError(t, os.Rename(away, e.remote))
		e.reconcile()
		requireKstatus(ctx, t, cp, status.CurrentStatus, "", "APIServiceExportRequest", "bindsync-hc1", "pg")
		requireKstatus(ctx, t, cp, status.CurrentStatus, "", "AppCluster", "", "hc1")
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: "bindsync-hc1", Name: "pg"}, &q))
		assert.Nil(t, findCondition(q.Status.Conditions, v1alpha1.ReconcilingCondition), "Reconciling is gone once Ready")
	})

	t.Run("a reconcile with nothing new writes no status", func(t *testing.T) {
		versions := func() map[string]string {
			out := map[string]string{}
			var cs v1alpha1.AppClusterList
			require.NoError(t, cp.Client.List(ctx, &cs))
			for _, c := range cs.Items {
				out["AppCluster/"+c.Name] = c.ResourceVersion
			}
			var qs v1alpha1.APIServiceExportRequestList
			require.NoError(t, cp.Client.List(ctx, &qs))
			for _, q := range qs.Items {
				out["Request/"+q.Namespace+"/"+q.Name] = q.ResourceVersion
			}
			return out
		}
		e.reconcile()
		time.Sleep(1100 * time.Millisecond) // a rewritten condition would get a new second
		before := versions()
		e.reconcile()
		assert.Equal(t, before, versions())
	})
}

// TestIntegrationHealthKstatusBindings runs the agent on a real app cluster
// and reads bindings with kstatus: Current when applied, Failed for a
// foreign CRD (Stalled), InProgress while the export is not in the
// repository or the repository is away (Reconciling); and a pass that
// finds the same state writes no status (the condition times stay).
func TestIntegrationHealthKstatusBindings(t *testing.T) {
	ctx, app := setupAgentTest(t)
	const cluster = "health"
	ok := testKind{plural: "healthies", kind: "Healthy", group: "health.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	foreign := testKind{plural: "foreigners", kind: "Foreigner", group: "health.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	objs, err := testenvDecode(foreign.crdFile())
	require.NoError(t, err)
	require.NoError(t, app.ApplyObjects(ctx, objs))
	missing := "nothings.health.agent.bindsync.test"

	repo := newStateRepo(t)
	repo.commit(appFolder(cluster, []testKind{ok, foreign}, nil))
	for _, name := range []string{ok.name(), foreign.name(), missing} {
		createBinding(ctx, t, app, name, "")
	}
	requireKstatus(ctx, t, app, status.InProgressStatus, "", "APIServiceBinding", "", ok.name())
	ag := newTestAgent(t, app, repo, cluster)
	_, _ = ag.Sync(ctx)

	requireKstatus(ctx, t, app, status.CurrentStatus, "", "APIServiceBinding", "", ok.name())
	requireKstatus(ctx, t, app, status.FailedStatus, v1alpha1.ForeignCRDReason, "APIServiceBinding", "", foreign.name())
	requireKstatus(ctx, t, app, status.InProgressStatus, "", "APIServiceBinding", "", missing)
	b := getBinding(ctx, t, app, missing)
	rec := condition(b, v1alpha1.ReconcilingCondition)
	require.NotNil(t, rec, "ExportNotFound resolves once the backend renders the export: %+v", b.Status.Conditions)
	assert.Equal(t, v1alpha1.ExportNotFoundReason, rec.Reason)

	time.Sleep(1100 * time.Millisecond) // a rewritten condition would get a new second
	ag.writes.reset()
	_, _ = ag.Sync(ctx)
	for _, w := range ag.writes.reset() {
		assert.False(t, strings.Contains(w, "apiservicebindings"), "an unchanged pass writes no binding status: %s", w)
	}

	require.NoError(t, os.Rename(repo.dir, repo.dir+".away"))
	t.Cleanup(func() { _ = os.Rename(repo.dir+".away", repo.dir) })
	_, _ = ag.Sync(ctx)
	res := kstatusOf(ctx, t, app, "APIServiceBinding", "", ok.name())
	assert.Equal(t, status.InProgressStatus, res.Status, res.Message)
	b = getBinding(ctx, t, app, ok.name())
	rec = condition(b, v1alpha1.ReconcilingCondition)
	require.NotNil(t, rec, "SourceUnavailable is retried: %+v", b.Status.Conditions)
	assert.Equal(t, v1alpha1.SourceUnavailableReason, rec.Reason)
}
