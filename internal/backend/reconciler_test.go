package backend

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

const pgCRD = "postgresqlinstances.anynines.com"

type harness struct {
	t       *testing.T
	client  client.Client
	repo    *fakeRepo
	applier *fakeApplier
	rc      *Reconciler
	now     time.Time
}

func newHarness(t *testing.T, objs ...client.Object) *harness {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "crds", "klutch", pgCRD+".yaml"))
	require.NoError(t, err)
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, yaml.Unmarshal(b, &crd))
	objs = append(objs, &crd,
		&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "c1", UID: "uid-cluster-c1"}},
		&v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: "postgresql"},
			Spec: v1alpha1.APIServiceExportTemplateSpec{Resources: []v1alpha1.GroupResource{{Group: "anynines.com", Resource: "postgresqlinstances"}}}})
	c := fake.NewClientBuilder().WithScheme(testenv.Scheme()).
		WithStatusSubresource(&v1alpha1.APIServiceExportRequest{}, &v1alpha1.APIServiceExportTemplate{}, &v1alpha1.AppCluster{}).
		WithObjects(objs...).Build()
	h := &harness{t: t, client: c, repo: newFakeRepo(), applier: &fakeApplier{}, now: time.Unix(1e9, 0)}
	h.rc, err = New(Options{Client: c, APIReader: c, Repo: h.repo, Applier: h.applier, Now: func() time.Time { return h.now }})
	require.NoError(t, err)
	return h
}

func newRequest(name, tpl string) *v1alpha1.APIServiceExportRequest {
	return &v1alpha1.APIServiceExportRequest{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bindsync-c1", UID: "uid-" + "c1-" + "name"},
		Spec: v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: tpl}}}
}

func (h *harness) reconcile() {
	h.t.Helper()
	_, _ = h.rc.Reconcile(context.Background(), stateKey)
}

func (h *harness) request(name string) *v1alpha1.APIServiceExportRequest {
	h.t.Helper()
	var q v1alpha1.APIServiceExportRequest
	require.NoError(h.t, h.client.Get(context.Background(), client.ObjectKey{Namespace: "bindsync-c1", Name: name}, &q))
	return &q
}

func (h *harness) mainTree() staterepo.Tree {
	tree, err := h.repo.Tree(h.repo.refs["main"])
	require.NoError(h.t, err)
	return tree
}

func condition(q *v1alpha1.APIServiceExportRequest, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(q.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

func TestReconcileBindsAppliesAndReportsTheRevision(t *testing.T) {
	h := newHarness(t, newRequest("pg", "postgresql"))

	h.reconcile()

	head := h.repo.refs["main"]
	require.False(t, head.IsZero())
	assert.Equal(t, "bind: c1 <- postgresql", h.repo.commits[head].msg.Subject)
	assert.Contains(t, h.mainTree(), staterepo.ExportPath("c1", pgCRD))
	assert.Contains(t, h.applier.applied["c1"], "APIServiceExport/"+pgCRD)
	assert.Contains(t, h.applier.applied["c1"], "Role/bindsync-agent")
	q := h.request("pg")
	assert.Equal(t, metav1.ConditionTrue, condition(q, v1alpha1.ReadyCondition).Status, condition(q, v1alpha1.ReadyCondition).Message)
	assert.Equal(t, "main@sha1:"+head.String(), q.Status.Revision)
	assert.Equal(t, v1alpha1.RequestSucceeded, q.Status.Phase)
	require.Len(t, q.Status.Exports, 1)
	assert.Equal(t, pgCRD, q.Status.Exports[0].Name)
}

func TestASecondReconcileWithNothingNewWritesNothing(t *testing.T) {
	h := newHarness(t, newRequest("pg", "postgresql"))
	h.reconcile()
	written, pushes, applies := h.repo.written, h.repo.pushes, h.applier.calls
	rv := h.request("pg").ResourceVersion

	h.reconcile()

	assert.Equal(t, written, h.repo.written, "no commit")
	assert.Equal(t, pushes, h.repo.pushes, "no push")
	assert.Equal(t, applies, h.applier.calls, "no apply")
	assert.Equal(t, rv, h.request("pg").ResourceVersion, "no status write")
}

func TestAnUnreachableRemoteSaysSoAndLosesNothing(t *testing.T) {
	h := newHarness(t, newRequest("pg", "postgresql"))
	h.repo.fetchErr = errUnreachable

	h.reconcile()

	q := h.request("pg")
	ready := condition(q, v1alpha1.ReadyCondition)
	assert.Equal(t, metav1.ConditionFalse, ready.Status)
	assert.Equal(t, v1alpha1.GitUnavailableReason, ready.Reason)
	assert.Contains(t, ready.Message, "connection refused")
	assert.Zero(t, h.applier.calls, "nothing applied or pruned after a failed fetch")

	h.repo.fetchErr = nil
	h.repo.pushErr = errUnreachable
	h.reconcile()
	assert.Equal(t, v1alpha1.GitUnavailableReason, condition(h.request("pg"), v1alpha1.ReadyCondition).Reason)
	assert.True(t, h.repo.refs["main"].IsZero(), "nothing pushed")

	h.repo.pushErr = nil
	h.reconcile()
	assert.Equal(t, metav1.ConditionTrue, condition(h.request("pg"), v1alpha1.ReadyCondition).Status)
}

func TestAnotherWriterBetweenFetchAndPushSurvives(t *testing.T) {
	h := newHarness(t, newRequest("pg", "postgresql"))
	h.repo.beforePush = func() {
		h.repo.commitOn("main", staterepo.Tree{"CODEOWNERS": []byte("* @platform\n")}, "add CODEOWNERS")
	}

	h.reconcile()

	tree := h.mainTree()
	assert.Equal(t, "* @platform\n", string(tree["CODEOWNERS"]))
	assert.Contains(t, tree, staterepo.ExportPath("c1", pgCRD))
	var subjects []string
	for c := h.repo.refs["main"]; !c.IsZero(); c = h.repo.commits[c].parent {
		subjects = append(subjects, h.repo.commits[c].msg.Subject)
	}
	assert.Equal(t, "add CODEOWNERS", subjects[len(subjects)-1], "the other writer's commit stays in history")
	assert.Equal(t, "bind: c1 <- postgresql", subjects[0])
}

func TestADeletedRequestIsUnboundAndPruned(t *testing.T) {
	h := newHarness(t, newRequest("pg", "postgresql"))
	h.reconcile()
	require.NoError(t, h.client.Delete(context.Background(), h.request("pg")))
	h.applier.applied = nil

	h.reconcile()

	head := h.repo.refs["main"]
	assert.Equal(t, "unbind: c1 <- postgresql", h.repo.commits[head].msg.Subject)
	assert.NotContains(t, h.mainTree(), staterepo.ExportPath("c1", pgCRD))
	assert.NotContains(t, h.applier.applied["c1"], "APIServiceExport/"+pgCRD)
	assert.NotEmpty(t, h.applier.applied["c1"], "the cluster's folder is applied again, so prune sees what to keep")
}

func TestAManualRequestWaitsOnItsBranchAndADeletedBranchRejects(t *testing.T) {
	tpl := &v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: "pg-manual"},
		Spec: v1alpha1.APIServiceExportTemplateSpec{Approval: v1alpha1.ApprovalManual,
			Resources: []v1alpha1.GroupResource{{Group: "anynines.com", Resource: "postgresqlinstances"}}}}
	h := newHarness(t, tpl, newRequest("pg", "pg-manual"))

	h.reconcile()
	branch := staterepo.ApproveBranch("c1", "pg")
	require.Contains(t, h.repo.refs, branch)
	approved := condition(h.request("pg"), v1alpha1.ApprovedCondition)
	assert.Equal(t, v1alpha1.PendingApprovalReason, approved.Reason)
	assert.Contains(t, approved.Message, branch)
	assert.NotContains(t, h.mainTree(), staterepo.ExportPath("c1", pgCRD), "main untouched")
	assert.True(t, strings.HasPrefix(h.request("pg").Status.Revision, branch+"@sha1:"))

	written := h.repo.written
	h.reconcile()
	assert.Equal(t, written, h.repo.written, "an up-to-date branch is not rewritten")

	delete(h.repo.refs, branch)
	h.reconcile()
	assert.Equal(t, v1alpha1.RejectedReason, condition(h.request("pg"), v1alpha1.ApprovedCondition).Reason)
	assert.NotContains(t, h.repo.refs, branch, "a rejected request's branch is not recreated")
	assert.Equal(t, v1alpha1.RequestFailed, h.request("pg").Status.Phase)
}

// TestPendingRequestsWalkMainsHistoryOncePerHead: a pending Manual request
// is not on main, so fetch looks for a reverted bind commit of it in
// main's history; that walk is done once per head of main, not once per
// reconcile.
func TestPendingRequestsWalkMainsHistoryOncePerHead(t *testing.T) {
	tpl := &v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: "pg-manual"},
		Spec: v1alpha1.APIServiceExportTemplateSpec{Approval: v1alpha1.ApprovalManual,
			Resources: []v1alpha1.GroupResource{{Group: "anynines.com", Resource: "postgresqlinstances"}}}}
	h := newHarness(t, tpl, newRequest("pg", "pg-manual"))
	h.reconcile()
	require.NotZero(t, h.repo.refs["main"], "main holds the cluster's folder")
	h.reconcile()
	walks := h.repo.walks
	for range 5 {
		h.reconcile()
	}
	assert.Equal(t, walks, h.repo.walks, "no history walk while main stays at one head")
	assert.Equal(t, v1alpha1.PendingApprovalReason, condition(h.request("pg"), v1alpha1.ApprovedCondition).Reason)

	tree := staterepo.Tree{"NOTES.md": []byte("a human's note\n")}
	for p, b := range h.mainTree() {
		tree[p] = b
	}
	h.repo.commitOn("main", tree, "docs")
	h.reconcile()
	assert.Greater(t, h.repo.walks, walks, "a new head of main is walked again")
}

// TestDecideReadsNothing: the history walks for reverted bind commits
// are fetch's; decide only decides from what fetch read (plan.Decide is
// pure), so a reconcile's reads all happen before anything is decided.
func TestDecideReadsNothing(t *testing.T) {
	tpl := &v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: "pg-manual"},
		Spec: v1alpha1.APIServiceExportTemplateSpec{Approval: v1alpha1.ApprovalManual,
			Resources: []v1alpha1.GroupResource{{Group: "anynines.com", Resource: "postgresqlinstances"}}}}
	h := newHarness(t, tpl, newRequest("pg", "pg-manual"))
	h.reconcile()
	require.NotZero(t, h.repo.refs["main"], "main holds the cluster's folder")
	tree := staterepo.Tree{"NOTES.md": []byte("a human's note\n")}
	for p, b := range h.mainTree() {
		tree[p] = b
	}
	h.repo.commitOn("main", tree, "docs") // a new head: its history is walked

	ctx := context.Background()
	r := &run{log: logr.Discard()}
	walks := h.repo.walks
	require.NoError(t, h.rc.fetch(ctx, r))
	assert.Greater(t, h.repo.walks, walks, "fetch walks main's history for the pending request")
	require.NotNil(t, r.in.Revoked, "fetch says which requests are revoked")
	walks = h.repo.walks
	require.NoError(t, h.rc.decide(ctx, r))
	assert.Equal(t, walks, h.repo.walks, "decide reads no history")
	require.NoError(t, h.rc.render(ctx, r))
	assert.Equal(t, walks, h.repo.walks, "render reads no history")
}

// An export file on main that does not decode holds its (template, CRD):
// main keeps the file, and the request and template say which file it is.
func TestAnUnreadableExportOnMainIsNamedAndKept(t *testing.T) {
	h := newHarness(t, newRequest("pg", "postgresql"))
	h.reconcile()
	path := staterepo.ExportPath("c1", pgCRD)
	tree := copyTree(h.mainTree())
	tree[path] = append([]byte("<<<<<<< HEAD\n"), tree[path]...)
	h.repo.commitOn("main", tree, "a merge gone wrong")
	head := h.repo.refs["main"]

	h.reconcile()

	assert.Equal(t, head, h.repo.refs["main"], "nothing is rendered over the file")
	ready := condition(h.request("pg"), v1alpha1.ReadyCondition)
	assert.Equal(t, metav1.ConditionFalse, ready.Status)
	assert.Equal(t, v1alpha1.ExportUnreadableReason, ready.Reason, ready.Message)
	assert.Contains(t, ready.Message, path)
	var tpl v1alpha1.APIServiceExportTemplate
	require.NoError(t, h.client.Get(context.Background(), client.ObjectKey{Name: "postgresql"}, &tpl))
	c := meta.FindStatusCondition(tpl.Status.Conditions, v1alpha1.ReadyCondition)
	require.NotNil(t, c)
	assert.Equal(t, v1alpha1.ExportUnreadableReason, c.Reason)
	assert.Contains(t, c.Message, path)
}

// Issue 13 item 2 through the reconciler: a second request for a bound
// template is DuplicateRequest and freezes nothing, so a claim the template
// drops leaves main's Role at once, and the bound request stays Ready.
func TestADuplicateRequestFreezesNothingInTheReconcile(t *testing.T) {
	h := newHarness(t, newRequest("pg", "postgresql"))
	ctx := context.Background()
	var tpl v1alpha1.APIServiceExportTemplate
	require.NoError(t, h.client.Get(ctx, client.ObjectKey{Name: "postgresql"}, &tpl))
	tpl.Spec.PermissionClaims = []v1alpha1.PermissionClaim{{GroupResource: v1alpha1.GroupResource{Resource: "secrets"}, Verbs: []v1alpha1.Verb{"get"}}}
	require.NoError(t, h.client.Update(ctx, &tpl))
	h.reconcile()
	rbac := staterepo.ControlPlaneDir("c1") + "/rbac.yaml"
	require.Contains(t, string(h.mainTree()[rbac]), "secrets")

	again := newRequest("pg-again", "postgresql")
	again.UID, again.CreationTimestamp = "uid-again", metav1.Unix(2e9, 0)
	require.NoError(t, h.client.Create(ctx, again))
	h.reconcile()
	require.NoError(t, h.client.Get(ctx, client.ObjectKey{Name: "postgresql"}, &tpl))
	tpl.Spec.PermissionClaims = nil
	require.NoError(t, h.client.Update(ctx, &tpl))
	h.reconcile()

	assert.NotContains(t, string(h.mainTree()[rbac]), "secrets", "the dropped claim leaves the Role")
	assert.Equal(t, metav1.ConditionTrue, condition(h.request("pg"), v1alpha1.ReadyCondition).Status)
	dup := h.request("pg-again")
	assert.Equal(t, v1alpha1.DuplicateRequestReason, condition(dup, v1alpha1.RenderedCondition).Reason)
	assert.Contains(t, condition(dup, v1alpha1.RenderedCondition).Message, "request pg")
	assert.Equal(t, v1alpha1.RequestFailed, dup.Status.Phase)
}
