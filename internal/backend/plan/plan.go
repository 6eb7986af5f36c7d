package plan

import (
	"slices"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/compat"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Input is what Make reads.
type Input struct {
	// CRDs are the live CRDs the templates reference, in full.
	CRDs      []apiextensionsv1.CustomResourceDefinition
	Templates []v1alpha1.APIServiceExportTemplate
	Clusters  []v1alpha1.AppCluster
	// Requests are the live requests, with the status the backend wrote
	// last (a request whose status says PendingApproval and whose branch is
	// gone was rejected).
	Requests []v1alpha1.APIServiceExportRequest
	// Namespaces are the live APIServiceNamespaces: each renders its
	// cluster's NamespacePath in a commit of its own ("namespace: C/N"),
	// always approved; one main holds that is no longer live leaves in a
	// commit of its own.
	Namespaces []v1alpha1.APIServiceNamespace
	// Main is the tree at main's head.
	Main staterepo.Tree
	// Branches are the bindsync/ branches that exist.
	Branches map[string]bool
	// Revoked maps the UID of a request main does not hold to the bind
	// commit of it that main's history holds (see Unbound): a human
	// reverted it. The plan records it in main as a revocation of the
	// request's template for its cluster (staterepo.RevokedPath), which
	// rejects every request of that cluster for that template, whatever
	// its UID and however long main's history grows, until a commit on
	// main deletes the file.
	Revoked map[types.UID]string
	// Cache, when set, is kept by the caller from one plan to the next:
	// every render of the plan goes through it, so what did not change is
	// not rendered again. The plan is the same with or without it.
	Cache *render.Cache
	// Memo, when set, is kept by the caller from one plan to the next with
	// the Cache: a Main that is the tree the last plan ended with is not
	// indexed or compared again (see Memo). The plan is the same with or
	// without it.
	Memo *Memo
}

// Approval is the state of a request's approval.
type Approval string

const (
	// Approved: main holds the request, or will after this plan's commits.
	Approved Approval = "Approved"
	// Pending: the request waits on its approval branch.
	Pending Approval = "Pending"
	// Rejected: its approval branch was deleted, or its bind commit reverted.
	Rejected Approval = "Rejected"
)

// RequestDecision is the plan for one request.
type RequestDecision struct {
	Namespace, Name string
	UID             types.UID
	Cluster         string
	Template        string
	Approval        Approval
	// Reason and Message explain Approval (for the Approved condition).
	Reason, Message string
	// Branch is the approval branch (Pending, or Rejected by deletion).
	Branch string
	// Rendered is true when the request's exports are in the tree it is
	// judged by: main's for Approved, its branch's for Pending.
	Rendered bool
	// Kept is true when this render failed for an approved request (a
	// problem of its template, CRD or cluster) and main keeps the files
	// it had: the binding stays in effect.
	Kept bool
	// HeldBack is the problem of another object (another request of the
	// cluster, say) that holds this request's cluster back, when the
	// request has no problem of its own and is not rendered.
	HeldBack *render.Problem
	Exports  []render.ExportResult
	// Problems are the render problems that concern this request: its own,
	// its cluster's, its template's and its template's CRDs'.
	Problems []render.Problem
	// Held lists the schema changes held for this request's template.
	Held []SchemaDecision
	// Revoke is true when this plan records the request's revocation
	// (its bind commit was reverted): main gains staterepo.RevokedPath of
	// its cluster and template.
	Revoke bool
}

// SchemaState says what happens to a (template, CRD) schema.
type SchemaState string

const (
	SchemaNew     SchemaState = "New"     // main holds no snapshot yet: the live CRD is used
	SchemaSame    SchemaState = "Same"    // main holds the live schema
	SchemaRollOut SchemaState = "RollOut" // the live schema replaces main's
	SchemaHeld    SchemaState = "Held"    // main keeps its snapshot
	SchemaGone    SchemaState = "Gone"    // the CRD is not on the control plane; main keeps its snapshot
	// SchemaUnreadable: main's export file does not decode; main keeps its
	// files and the CRD's schema does not change (ExportUnreadable).
	SchemaUnreadable SchemaState = "Unreadable"
)

// SchemaDecision is the plan for one (template, CRD) that main holds or the
// template references.
type SchemaDecision struct {
	Template, CRD      string
	Policy             v1alpha1.SchemaUpdatePolicy
	State              SchemaState
	MainHash, LiveHash string
	Report             compat.Report
	// Branch holds the change when State is Held under NonBreaking.
	Branch string
}

// Step is one commit on main: the whole tree after it and its message.
type Step struct {
	Tree    staterepo.Tree
	Message staterepo.Message
	// Dirs are the cluster folders (clusters/<name>) where Tree differs
	// from the tree before the step, sorted: outside them the two hold the
	// same paths with the same bytes, so a commit need only hash and write
	// these folders (git.Repo.CommitDirs). nil when a file outside every
	// cluster folder changed: commit the whole tree. Dirs is computed by
	// comparing the two trees, never claimed by whoever caused the step.
	Dirs []string
	// Files are Tree's files under Dirs (nil when Dirs is).
	Files staterepo.Tree
}

// BranchPlan is the desired content of one approval branch: one commit on
// top of main's head after Steps.
type BranchPlan struct {
	Name string
	// Tree is the branch's whole tree. It is nil for the branch of a
	// pending request whose change is within cluster folders (Dirs set):
	// that branch is Plan.Main with Files in Dirs (TreeOn), and a plan
	// with a thousand pending requests does not hold a thousand copies of
	// main.
	Tree    staterepo.Tree
	Message staterepo.Message
	// Dirs are the folders where the branch differs from Plan.Main, as for
	// Step.
	Dirs []string
	// Files are the branch's files under Dirs (nil when Dirs is).
	Files staterepo.Tree
}

// TreeOn returns the branch's whole tree, main being the plan's Main:
// Tree, or main with the folders in Dirs holding Files alone.
func (b BranchPlan) TreeOn(main staterepo.Tree) staterepo.Tree {
	if b.Tree != nil || b.Dirs == nil {
		return b.Tree
	}
	t := staterepo.Tree{}
	for path, data := range main {
		if d, ok := clusterDirOf(path); !ok || !slices.Contains(b.Dirs, d) {
			t[path] = data
		}
	}
	for path, data := range b.Files {
		t[path] = data
	}
	return t
}

// Plan is what Make returns.
type Plan struct {
	// Steps are main's commits, in order; none when main is up to date.
	Steps []Step
	// Main is the tree main holds after Steps.
	Main staterepo.Tree
	// Branches are the approval branches that should exist, sorted by name.
	Branches []BranchPlan
	Requests []RequestDecision
	Schemas  []SchemaDecision
	// Namespaces has one entry per input APIServiceNamespace, in input order.
	Namespaces []NamespaceDecision
	Problems   []render.Problem
	Warnings   []render.Problem
	errorsOut  []error
}

// Errors returns what Make could not read (an export file in main that no
// longer decodes); main keeps the affected files (see ExportUnreadable in
// Problems).
func (p Plan) Errors() []error { return p.errorsOut }

// Unbound returns the requests main does not hold (by namespace/name) and
// does not revoke already: the ones whose history a caller checks for a
// reverted bind commit.
func Unbound(in Input) []v1alpha1.APIServiceExportRequest {
	ix := in.Memo.known(in.Main).index()
	var out []v1alpha1.APIServiceExportRequest
	for _, q := range in.Requests {
		c, t := clusterOf(q.Namespace), q.Spec.TemplateRef.Name
		if !ix.holds(c, t) && !ix.isRevoked(c, t) {
			out = append(out, q)
		}
	}
	return out
}

// Decisions are the approvals of every request and the approved schema of
// every (template, CRD), before anything is rendered.
type Decisions struct{ p *planner }

// Decide decides, per request, whether it is approved and, per (template,
// CRD), which schema is approved.
func Decide(in Input) Decisions {
	p := &planner{in: in, mainT: in.Memo.known(in.Main), live: map[string]*apiextensionsv1.CustomResourceDefinition{}}
	p.main = p.mainT.index()
	for i := range in.CRDs {
		p.live[in.CRDs[i].Name] = &in.CRDs[i]
	}
	p.decideSchemas()
	p.decideRequests()
	return Decisions{p: p}
}

// Render renders main from the approved inputs only, one step per cause,
// and each pending branch from main plus its one change.
func (d Decisions) Render() Plan { return d.p.build() }

type planner struct {
	in    Input
	mainT *ptree
	main  *treeIndex
	live  map[string]*apiextensionsv1.CustomResourceDefinition
	// mainCRD: CRD name -> the CRD main holds (read back from its export).
	mainCRD  map[string]*apiextensionsv1.CustomResourceDefinition
	schemas  []SchemaDecision
	requests []RequestDecision
	objs     []*v1alpha1.APIServiceExportRequest // objs[i] is the request of requests[i]
	// problems are the plan's own problems (ExportUnreadable), added to
	// every render's and kept by every tree's holds (renderKeeping).
	problems []render.Problem
	out      Plan
}

func (p *planner) templates() map[string]*v1alpha1.APIServiceExportTemplate {
	m := map[string]*v1alpha1.APIServiceExportTemplate{}
	for i := range p.in.Templates {
		m[p.in.Templates[i].Name] = &p.in.Templates[i]
	}
	return m
}

func clusterOf(ns string) string {
	c, ok := strings.CutPrefix(ns, v1alpha1.ClusterNamespacePrefix)
	if !ok {
		return ""
	}
	return c
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
