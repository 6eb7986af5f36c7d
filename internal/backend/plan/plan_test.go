package plan_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

const pgCRD = "postgresqlinstances.anynines.com"

func loadCRD(t *testing.T, name string) apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "crds", "klutch", name+".yaml"))
	require.NoError(t, err)
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, yaml.Unmarshal(b, &crd))
	return crd
}

func template(name string, approval v1alpha1.ApprovalPolicy, policy v1alpha1.SchemaUpdatePolicy) v1alpha1.APIServiceExportTemplate {
	return v1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.APIServiceExportTemplateSpec{
			Resources:          []v1alpha1.GroupResource{{Group: "anynines.com", Resource: "postgresqlinstances"}},
			Approval:           approval,
			SchemaUpdatePolicy: policy,
		},
	}
}

func request(cluster, name, tpl string) v1alpha1.APIServiceExportRequest {
	return v1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v1alpha1.ClusterNamespace(cluster), UID: types.UID("uid-" + cluster + "-" + name)},
		Spec:       v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: tpl}},
	}
}

func clusters(names ...string) []v1alpha1.AppCluster {
	var out []v1alpha1.AppCluster
	for _, n := range names {
		out = append(out, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: n}})
	}
	return out
}

// world is a control plane: postgresql (Automatic) and pg-manual (Manual),
// clusters c1 and c2.
type world struct {
	crd       apiextensionsv1.CustomResourceDefinition
	templates []v1alpha1.APIServiceExportTemplate
	clusters  []v1alpha1.AppCluster
	requests  []v1alpha1.APIServiceExportRequest
}

func newWorld(t *testing.T, policy v1alpha1.SchemaUpdatePolicy) *world {
	return &world{
		crd: loadCRD(t, pgCRD),
		templates: []v1alpha1.APIServiceExportTemplate{
			template("postgresql", v1alpha1.ApprovalAutomatic, policy),
			template("pg-manual", v1alpha1.ApprovalManual, policy),
		},
		clusters: clusters("c1", "c2"),
	}
}

func (w *world) input(main staterepo.Tree) plan.Input {
	return plan.Input{
		CRDs:      []apiextensionsv1.CustomResourceDefinition{*w.crd.DeepCopy()},
		Templates: w.templates, Clusters: w.clusters, Requests: w.requests,
		Main: main, Branches: map[string]bool{},
	}
}

// settled plans from main until nothing is left to commit and returns main.
func (w *world) settled(t *testing.T, main staterepo.Tree) staterepo.Tree {
	t.Helper()
	p := plan.Make(w.input(main))
	require.Empty(t, p.Errors())
	again := plan.Make(w.input(p.Main))
	require.Empty(t, again.Steps, "a second plan on the result commits nothing")
	return p.Main
}

func decision(t *testing.T, p plan.Plan, ns, name string) plan.RequestDecision {
	t.Helper()
	for _, d := range p.Requests {
		if d.Namespace == ns && d.Name == name {
			return d
		}
	}
	require.FailNow(t, "no decision", "%s/%s", ns, name)
	return plan.RequestDecision{}
}

func subjects(p plan.Plan) []string {
	var out []string
	for _, s := range p.Steps {
		out = append(out, s.Message.Subject)
	}
	return out
}

func branchNames(p plan.Plan) []string {
	var out []string
	for _, b := range p.Branches {
		out = append(out, b.Name)
	}
	return out
}

// addOptionalField adds spec.tier, a new optional field: non-breaking.
func addOptionalField(crd *apiextensionsv1.CustomResourceDefinition) {
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	spec.Properties["tier"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
	crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
}

// removeField removes spec.expose: breaking.
func removeField(crd *apiextensionsv1.CustomResourceDefinition) {
	spec := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	delete(spec.Properties, "expose")
	crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
}

func TestAnAutomaticRequestIsOneBindCommitOnMain(t *testing.T) {
	w := newWorld(t, "")
	empty := w.settled(t, staterepo.Tree{})
	w.requests = append(w.requests, request("c1", "pg", "postgresql"))

	p := plan.Make(w.input(empty))

	require.Len(t, p.Steps, 1)
	msg := p.Steps[0].Message
	assert.Equal(t, "bind: c1 <- postgresql", msg.Subject)
	assert.Equal(t, []string{"c1"}, msg.Values(staterepo.TrailerCluster))
	assert.Equal(t, []string{"bindsync-c1/pg"}, msg.Values(staterepo.TrailerRequest))
	assert.Equal(t, []string{"uid-c1-pg"}, msg.Values(staterepo.TrailerRequestUID))
	assert.Equal(t, []string{"postgresql"}, msg.Values(staterepo.TrailerTemplate))
	assert.Equal(t, []string{staterepo.CauseBind}, msg.Values(staterepo.TrailerCause))
	require.Len(t, msg.Values(staterepo.TrailerSchemaHash), 1)
	assert.True(t, strings.HasPrefix(msg.Values(staterepo.TrailerSchemaHash)[0], pgCRD+"="))
	assert.Contains(t, p.Main, staterepo.ExportPath("c1", pgCRD))
	assert.Contains(t, p.Main, staterepo.CRDPath("c1", pgCRD))
	assert.NotContains(t, p.Main, staterepo.ExportPath("c2", pgCRD))
	d := decision(t, p, "bindsync-c1", "pg")
	assert.Equal(t, plan.Approved, d.Approval)
	assert.True(t, d.Rendered)
	assert.Empty(t, p.Branches)
}

func TestNothingNewPlansNothing(t *testing.T) {
	w := newWorld(t, "")
	w.requests = append(w.requests, request("c1", "pg", "postgresql"), request("c2", "pg", "postgresql"))
	main := w.settled(t, staterepo.Tree{})

	p := plan.Make(w.input(main))

	assert.Empty(t, p.Steps)
	assert.Empty(t, p.Branches)
	for _, d := range p.Requests {
		assert.Equal(t, plan.Approved, d.Approval, d.Name)
		assert.True(t, d.Rendered, d.Name)
	}
}

func TestOneCommitPerCause(t *testing.T) {
	w := newWorld(t, "")
	w.requests = append(w.requests, request("c1", "old", "postgresql"))
	main := w.settled(t, staterepo.Tree{})
	w.requests = []v1alpha1.APIServiceExportRequest{request("c2", "a", "postgresql")}
	addOptionalField(&w.crd)

	p := plan.Make(w.input(main))

	assert.Equal(t, []string{"unbind: c1 <- postgresql", "bind: c2 <- postgresql"}, subjects(p),
		"the schema change touches no cluster still bound once c1 is unbound, so it is no commit of its own")
	w.settled(t, p.Main)
}

func TestManualApproval(t *testing.T) {
	pendingStatus := func(q v1alpha1.APIServiceExportRequest, reason string) v1alpha1.APIServiceExportRequest {
		meta.SetStatusCondition(&q.Status.Conditions, metav1.Condition{Type: v1alpha1.ApprovedCondition,
			Status: metav1.ConditionFalse, Reason: reason, Message: "waiting for branch " + staterepo.ApproveBranch("c1", "pg") + " to be merged"})
		q.Status.Revision = staterepo.ApproveBranch("c1", "pg") + "@sha1:0123456789abcdef0123456789abcdef01234567"
		return q
	}
	// notPushed is the status of a request whose branch was planned but
	// whose push failed: the backend never wrote the branch's revision.
	notPushed := func(q v1alpha1.APIServiceExportRequest) v1alpha1.APIServiceExportRequest {
		meta.SetStatusCondition(&q.Status.Conditions, metav1.Condition{Type: v1alpha1.ApprovedCondition,
			Status: metav1.ConditionFalse, Reason: v1alpha1.PendingApprovalReason,
			Message: "approval branch " + staterepo.ApproveBranch("c1", "pg") + " could not be pushed: refused"})
		return q
	}
	w := newWorld(t, "")
	base := w.settled(t, staterepo.Tree{})
	req := request("c1", "pg", "pg-manual")
	w.requests = []v1alpha1.APIServiceExportRequest{req}
	pending := plan.Make(w.input(base))
	require.Len(t, pending.Branches, 1)
	merged := pending.Branches[0].TreeOn(pending.Main)

	cases := []struct {
		name      string
		request   v1alpha1.APIServiceExportRequest
		main      staterepo.Tree
		branches  []string
		revoked   bool
		approval  plan.Approval
		reason    string
		branch    []string
		mainMoves bool
	}{
		{name: "a new Manual request gets a branch and main does not move", request: req, main: base,
			approval: plan.Pending, reason: v1alpha1.PendingApprovalReason, branch: []string{staterepo.ApproveBranch("c1", "pg")}},
		{name: "the branch still exists: still pending", request: pendingStatus(req, v1alpha1.PendingApprovalReason), main: base,
			branches: []string{staterepo.ApproveBranch("c1", "pg")}, approval: plan.Pending, reason: v1alpha1.PendingApprovalReason,
			branch: []string{staterepo.ApproveBranch("c1", "pg")}},
		{name: "main holds the request's files (merge, squash or rebase): approved", request: pendingStatus(req, v1alpha1.PendingApprovalReason),
			main: merged, approval: plan.Approved, reason: v1alpha1.SucceededReason},
		{name: "the branch was deleted unmerged: rejected, no branch", request: pendingStatus(req, v1alpha1.PendingApprovalReason),
			main: base, approval: plan.Rejected, reason: v1alpha1.RejectedReason},
		{name: "a branch that was never pushed is not a deleted branch: still pending, planned again", request: notPushed(req),
			main: base, approval: plan.Pending, reason: v1alpha1.PendingApprovalReason, branch: []string{staterepo.ApproveBranch("c1", "pg")}},
		{name: "a rejected request stays rejected", request: pendingStatus(req, v1alpha1.RejectedReason),
			main: base, approval: plan.Rejected, reason: v1alpha1.RejectedReason},
		{name: "a reverted bind commit rejects the request and main records the revocation", request: req, main: base, revoked: true,
			approval: plan.Rejected, reason: v1alpha1.RejectedReason, mainMoves: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w.requests = []v1alpha1.APIServiceExportRequest{tc.request}
			in := w.input(tc.main)
			for _, b := range tc.branches {
				in.Branches[b] = true
			}
			if tc.revoked {
				in.Revoked = map[types.UID]string{tc.request.UID: "0123456789abcdef"}
			}
			p := plan.Make(in)
			d := decision(t, p, "bindsync-c1", "pg")
			assert.Equal(t, tc.approval, d.Approval)
			assert.Equal(t, tc.reason, d.Reason)
			if tc.mainMoves {
				require.Len(t, p.Steps, 1)
				assert.Equal(t, "revoke: c1 <- pg-manual", p.Steps[0].Message.Subject)
				assert.Equal(t, []string{string(req.UID)}, p.Steps[0].Message.Values(staterepo.TrailerRequestUID))
				assert.Contains(t, p.Main, staterepo.RevokedPath("c1", "pg-manual"))
			} else {
				assert.Empty(t, p.Steps, "main never moves for a Manual request")
			}
			assert.Equal(t, tc.branch, branchNames(p))
		})
	}
}

func TestTwoPendingRequestsOfOneClusterEachBranchFromMain(t *testing.T) {
	w := newWorld(t, "")
	w.templates = append(w.templates, v1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "backups"},
		Spec: v1alpha1.APIServiceExportTemplateSpec{Approval: v1alpha1.ApprovalManual,
			Resources: []v1alpha1.GroupResource{{Group: "anynines.com", Resource: "backups"}}},
	})
	backups := loadCRD(t, "backups.anynines.com")
	base := w.settled(t, staterepo.Tree{})
	w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "pg-manual"), request("c1", "bk", "backups")}
	in := w.input(base)
	in.CRDs = append(in.CRDs, backups)

	p := plan.Make(in)
	require.Equal(t, []string{staterepo.ApproveBranch("c1", "bk"), staterepo.ApproveBranch("c1", "pg")}, branchNames(p))

	// pg merged: bk's branch is rebuilt on the new main and still holds only its own change.
	in.Main = p.Branches[1].TreeOn(p.Main)
	in.Branches = map[string]bool{staterepo.ApproveBranch("c1", "bk"): true}
	after := plan.Make(in)
	require.Equal(t, []string{staterepo.ApproveBranch("c1", "bk")}, branchNames(after))
	bk := after.Branches[0].TreeOn(after.Main)
	assert.Contains(t, bk, staterepo.ExportPath("c1", pgCRD), "the rebuilt branch keeps what main holds")
	assert.Contains(t, bk, staterepo.ExportPath("c1", "backups.anynines.com"))
	assert.Equal(t, plan.Approved, decision(t, after, "bindsync-c1", "pg").Approval)
}

func TestSchemaChanges(t *testing.T) {
	cases := []struct {
		name     string
		policy   v1alpha1.SchemaUpdatePolicy
		change   func(*apiextensionsv1.CustomResourceDefinition)
		subject  string
		compat   string
		branch   bool
		heldRule string
	}{
		{name: "a non-breaking change rolls out in one commit", change: addOptionalField,
			subject: "(non-breaking)", compat: "non-breaking"},
		{name: "a breaking change under NonBreaking is held on its branch", change: removeField,
			branch: true, heldRule: "field-removed"},
		{name: "a breaking change under Always rolls out and says so", policy: v1alpha1.SchemaUpdateAlways, change: removeField,
			subject: "(breaking: ", compat: "breaking: "},
		{name: "Never keeps main's snapshot, without a branch", policy: v1alpha1.SchemaUpdateNever, change: addOptionalField},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.policy)
			w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "postgresql"), request("c2", "pg", "postgresql")}
			main := w.settled(t, staterepo.Tree{})
			tc.change(&w.crd)

			p := plan.Make(w.input(main))

			if tc.subject == "" {
				assert.Empty(t, p.Steps, "main keeps its snapshot")
				assert.Equal(t, main, p.Main)
			} else {
				require.Len(t, p.Steps, 1, "one commit updates every bound cluster")
				msg := p.Steps[0].Message
				assert.True(t, strings.HasPrefix(msg.Subject, "schema: "+pgCRD+" "), msg.Subject)
				assert.Contains(t, msg.Subject, tc.subject)
				require.Len(t, msg.Values(staterepo.TrailerCompat), 1)
				assert.True(t, strings.HasPrefix(msg.Values(staterepo.TrailerCompat)[0], tc.compat))
				for _, c := range []string{"c1", "c2"} {
					assert.NotEqual(t, main[staterepo.ExportPath(c, pgCRD)], p.Main[staterepo.ExportPath(c, pgCRD)], c)
				}
			}
			if !tc.branch {
				assert.Empty(t, p.Branches)
				return
			}
			require.Len(t, p.Branches, 1)
			b := p.Branches[0]
			assert.True(t, strings.HasPrefix(b.Name, staterepo.SchemaBranchPrefix+pgCRD+"/"), b.Name)
			assert.Contains(t, b.Message.Subject, "(breaking)")
			assert.Contains(t, b.Message.Body, tc.heldRule)
			assert.Contains(t, b.Message.Body, ".spec.expose")
			d := decision(t, p, "bindsync-c1", "pg")
			require.Len(t, d.Held, 1)
			assert.Equal(t, b.Name, d.Held[0].Branch)

			// Merging the branch makes its schema main's: nothing held any more.
			merged := w.input(b.Tree)
			after := plan.Make(merged)
			assert.Empty(t, after.Steps)
			assert.Empty(t, after.Branches)
		})
	}
}

func TestABreakingChangeEditedAgainMovesToANewBranch(t *testing.T) {
	w := newWorld(t, "")
	w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "postgresql")}
	main := w.settled(t, staterepo.Tree{})
	removeField(&w.crd)
	first := plan.Make(w.input(main))
	addOptionalField(&w.crd)
	second := plan.Make(w.input(main))

	require.Len(t, first.Branches, 1)
	require.Len(t, second.Branches, 1)
	assert.NotEqual(t, first.Branches[0].Name, second.Branches[0].Name, "the branch follows the newest CRD")
	assert.Contains(t, string(second.Branches[0].Tree[staterepo.CRDPath("c1", pgCRD)]), "tier")
}

func TestABadObjectKeepsTheLastGoodFiles(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(w *world, in *plan.Input)
		reason string
	}{
		{name: "a template that gains a forbidden claim", reason: v1alpha1.InvalidTemplateReason,
			break_: func(w *world, in *plan.Input) {
				in.Templates[0].Spec.PermissionClaims = []v1alpha1.PermissionClaim{{
					GroupResource: v1alpha1.GroupResource{Resource: "pods"}, Verbs: []v1alpha1.Verb{"get"}}}
			}},
		{name: "a CRD deleted from the control plane",
			break_: func(w *world, in *plan.Input) { in.CRDs = nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "")
			w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "postgresql")}
			main := w.settled(t, staterepo.Tree{})
			in := w.input(main)
			in.Templates = append([]v1alpha1.APIServiceExportTemplate(nil), in.Templates...)
			tc.break_(w, &in)

			p := plan.Make(in)

			assert.Empty(t, p.Steps, "nothing is unbound")
			assert.Equal(t, main, p.Main)
			d := decision(t, p, "bindsync-c1", "pg")
			assert.Equal(t, plan.Approved, d.Approval)
			assert.True(t, d.Rendered != d.Kept, "the binding stays in effect: rendered again (%v) or kept (%v)", d.Rendered, d.Kept)
			assert.Equal(t, tc.reason != "", d.Kept, "main keeps the last good files exactly when the request's render failed")
			if tc.reason != "" {
				require.NotEmpty(t, d.Problems)
				assert.Equal(t, tc.reason, d.Problems[0].Reason)
			}
		})
	}
}

func TestARequestForAnUnknownTemplateRendersNothingAndCommitsNothing(t *testing.T) {
	w := newWorld(t, "")
	w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "postgresql")}
	main := w.settled(t, staterepo.Tree{})
	w.requests = append(w.requests, request("c2", "x", "no-such-template"))

	p := plan.Make(w.input(main))

	assert.Empty(t, p.Steps)
	d := decision(t, p, "bindsync-c2", "x")
	assert.False(t, d.Rendered)
	require.NotEmpty(t, d.Problems)
	assert.Equal(t, v1alpha1.TemplateNotFoundReason, d.Problems[0].Reason)
	assert.True(t, decision(t, p, "bindsync-c1", "pg").Rendered, "other clusters are unaffected")
	assert.False(t, d.Kept, "main never held it")
}

func TestARequestDuplicatingABoundOneIsNotKept(t *testing.T) {
	w := newWorld(t, "")
	w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "postgresql")}
	main := w.settled(t, staterepo.Tree{})
	w.requests = append(w.requests, request("c1", "pg-again", "postgresql"))

	p := plan.Make(w.input(main))

	again := decision(t, p, "bindsync-c1", "pg-again")
	require.NotEmpty(t, again.Problems)
	assert.Equal(t, v1alpha1.DuplicateRequestReason, again.Problems[0].Reason)
	assert.Contains(t, again.Problems[0].Message, "request pg")
	assert.False(t, again.Kept, "main holds the files of the other request, not of this one")
	assert.False(t, again.Rendered)
	assert.True(t, decision(t, p, "bindsync-c1", "pg").Rendered)
}

// The reproduction of issue 13 item 2: an app cluster creates a second
// request for a template it has bound, then the platform team removes a
// Secrets claim from the template. The duplicate freezes nothing: main's
// Role for the cluster stops granting Secrets in the very next commit.
func TestADuplicateRequestNeverFreezesItsClustersGrants(t *testing.T) {
	w := newWorld(t, "")
	w.templates[0].Spec.PermissionClaims = []v1alpha1.PermissionClaim{
		{GroupResource: v1alpha1.GroupResource{Resource: "secrets"}, Verbs: []v1alpha1.Verb{"get", "list"}}}
	w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "postgresql")}
	main := w.settled(t, staterepo.Tree{})
	rbac := staterepo.ControlPlaneDir("c1") + "/rbac.yaml"
	require.Contains(t, string(main[rbac]), "secrets")

	w.requests = append(w.requests, request("c1", "pg-again", "postgresql"))
	main = w.settled(t, main)
	w.templates = append([]v1alpha1.APIServiceExportTemplate(nil), w.templates...)
	w.templates[0].Spec.PermissionClaims = nil

	p := plan.Make(w.input(main))

	require.NotEmpty(t, p.Steps, "the narrowed template is committed")
	assert.NotContains(t, string(p.Main[rbac]), "secrets", "c1's Role no longer grants Secrets")
	assert.Contains(t, p.Main, staterepo.ExportPath("c1", pgCRD))
	pg := decision(t, p, "bindsync-c1", "pg")
	assert.True(t, pg.Rendered)
	assert.Empty(t, pg.Problems)
	assert.Equal(t, v1alpha1.DuplicateRequestReason, decision(t, p, "bindsync-c1", "pg-again").Problems[0].Reason)
}

func TestUnboundListsTheRequestsMainDoesNotHold(t *testing.T) {
	w := newWorld(t, "")
	w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "postgresql")}
	main := w.settled(t, staterepo.Tree{})
	w.requests = append(w.requests, request("c2", "pg", "postgresql"))

	var names []string
	for _, q := range plan.Unbound(w.input(main)) {
		names = append(names, q.Namespace+"/"+q.Name)
	}
	assert.Equal(t, []string{"bindsync-c2/pg"}, names)
}

func TestMessageString(t *testing.T) {
	m := staterepo.Message{Subject: "bind: c1 <- pg", Body: "why\n", Trailers: []staterepo.Trailer{{Key: staterepo.TrailerCluster, Value: "c1"}}}
	assert.Equal(t, "bind: c1 <- pg\n\nwhy\n\nBindsync-Cluster: c1\n", m.String())
}

func TestFilesBindsyncDoesNotOwnAreKept(t *testing.T) {
	w := newWorld(t, "")
	main := w.settled(t, staterepo.Tree{})
	main["CODEOWNERS"] = []byte("* @platform\n")
	w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "postgresql")}

	p := plan.Make(w.input(main))

	require.NotEmpty(t, p.Steps)
	for _, s := range p.Steps {
		assert.Equal(t, "* @platform\n", string(s.Tree["CODEOWNERS"]), s.Message.Subject)
	}
}

func TestBadInputGetsAClearProblemAndOtherClustersAreUnaffected(t *testing.T) {
	cases := []struct {
		name    string
		add     func(w *world)
		ns, req string
		reason  string
	}{
		{name: "a template with a missing CRD", reason: v1alpha1.CRDNotFoundReason, ns: "bindsync-c2", req: "x",
			add: func(w *world) {
				w.templates = append(w.templates, v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: "ghost"},
					Spec: v1alpha1.APIServiceExportTemplateSpec{Resources: []v1alpha1.GroupResource{{Group: "example.com", Resource: "ghosts"}}}})
				w.requests = append(w.requests, request("c2", "x", "ghost"))
			}},
		{name: "a request for an unknown template", reason: v1alpha1.TemplateNotFoundReason, ns: "bindsync-c2", req: "x",
			add: func(w *world) { w.requests = append(w.requests, request("c2", "x", "no-such-template")) }},
		{name: "an invalid cluster name", reason: v1alpha1.InvalidClusterNameReason, ns: "bindsync-Bad_Name", req: "x",
			add: func(w *world) {
				w.clusters = append(w.clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}})
				w.requests = append(w.requests, request("Bad_Name", "x", "postgresql"))
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, "")
			w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "postgresql")}
			main := w.settled(t, staterepo.Tree{})
			tc.add(w)

			p := plan.Make(w.input(main))

			assert.Empty(t, p.Steps, "nothing to commit")
			d := decision(t, p, tc.ns, tc.req)
			assert.False(t, d.Rendered)
			var reasons []string
			for _, pr := range d.Problems {
				reasons = append(reasons, pr.Reason)
			}
			assert.Contains(t, reasons, tc.reason)
			other := decision(t, p, "bindsync-c1", "pg")
			assert.True(t, other.Rendered)
			assert.Empty(t, other.Problems)
		})
	}
}

func TestAGoodRequestOfAClusterWithABadOneBinds(t *testing.T) {
	w := newWorld(t, "")
	main := w.settled(t, staterepo.Tree{})
	w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "ghost", "no-such-template"), request("c1", "pg", "postgresql")}

	p := plan.Make(w.input(main))

	require.Len(t, p.Steps, 1, "the bad request holds nothing of its cluster back")
	assert.Equal(t, "bind: c1 <- postgresql", p.Steps[0].Message.Subject)
	d := decision(t, p, "bindsync-c1", "pg")
	assert.True(t, d.Rendered)
	assert.Empty(t, d.Problems, "it has no problem of its own")
	assert.Nil(t, d.HeldBack)
	ghost := decision(t, p, "bindsync-c1", "ghost")
	assert.False(t, ghost.Rendered)
	assert.Equal(t, v1alpha1.TemplateNotFoundReason, ghost.Problems[0].Reason)
}

// An export file in main that does not decode (a merge left conflict
// markers in it) is a problem of its (template, CRD): main keeps its files
// byte for byte and the CRD's schema does not change, whatever the live CRD
// says. Taking the live CRD instead would roll out a breaking change that
// schemaUpdatePolicy holds.
func TestAnUnreadableExportInMainHoldsAndNeverFallsBackToLive(t *testing.T) {
	for _, policy := range []v1alpha1.SchemaUpdatePolicy{v1alpha1.SchemaUpdateNonBreaking, v1alpha1.SchemaUpdateNever} {
		t.Run(string(policy), func(t *testing.T) {
			w := newWorld(t, policy)
			w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "postgresql"), request("c2", "pg", "postgresql")}
			main := w.settled(t, staterepo.Tree{})
			exp := staterepo.ExportPath("c1", pgCRD)
			broken := []byte(strings.Replace(string(main[exp]), "spec:\n", "spec:\n<<<<<<< HEAD\n", 1))
			main = copyTree(main)
			main[exp] = broken
			removeField(&w.crd) // a breaking change on the control plane

			p := plan.Make(w.input(main))

			require.NotEmpty(t, p.Errors())
			assert.Empty(t, p.Steps, "nothing rolls out")
			assert.Equal(t, broken, p.Main[exp], "main keeps the file it has")
			for _, c := range []string{"c1", "c2"} {
				assert.Equal(t, main[staterepo.CRDPath(c, pgCRD)], p.Main[staterepo.CRDPath(c, pgCRD)], "%s keeps its CRD", c)
				assert.Contains(t, string(p.Main[staterepo.CRDPath(c, pgCRD)]), "expose", "%s keeps the removed field", c)
			}
			var found *render.Problem
			for i, pr := range p.Problems {
				if pr.Reason == v1alpha1.ExportUnreadableReason {
					found = &p.Problems[i]
				}
			}
			require.NotNil(t, found, "a problem says so: %v", p.Problems)
			assert.Equal(t, "APIServiceExportTemplate", found.Kind)
			assert.Equal(t, "postgresql", found.Name)
			assert.Contains(t, found.Message, exp, "it names the file")
			d := decision(t, p, "bindsync-c1", "pg")
			require.NotEmpty(t, d.Problems)
			assert.Equal(t, v1alpha1.ExportUnreadableReason, d.Problems[0].Reason)
			assert.Empty(t, p.Branches, "no schema branch is built from a snapshot that cannot be read")
		})
	}
}

func copyTree(t staterepo.Tree) staterepo.Tree {
	out := make(staterepo.Tree, len(t))
	for p, b := range t {
		out[p] = b
	}
	return out
}
