package plan

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unsafe"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/compat"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/schema"
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

// Make plans main's commits and the approval branches: Decide, then Render.
func Make(in Input) Plan { return Decide(in).Render() }

// Decisions are the approvals of every request and the approved schema of
// every (template, CRD), before anything is rendered.
type Decisions struct{ p *planner }

// Decide decides, per request, whether it is approved and, per (template,
// CRD), which schema is approved.
func Decide(in Input) Decisions {
	if in.Cache != nil {
		// the plan never modifies its input: the CRDs it renders again and
		// again are found by identity (released at the end of Render)
		in.Cache.Hold()
	}
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

// decideSchemas compares, for every (template, CRD) main holds, main's
// snapshot with the live CRD.
func (p *planner) decideSchemas() {
	p.mainCRD = map[string]*apiextensionsv1.CustomResourceDefinition{}
	tpls := p.templates()
	byPair := p.main.pairIndex()
	keys := make([]string, 0, len(byPair))
	for k := range byPair {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := byPair[k]
		old, err := p.in.Memo.crdOf(p.main, e, p.in.Cache)
		if err != nil {
			p.out.errorsOut = append(p.out.errorsOut, err)
			p.unreadable(e, err)
			p.schemas = append(p.schemas, SchemaDecision{Template: e.Template, CRD: e.CRD, State: SchemaUnreadable, MainHash: e.Hash,
				Policy: policyOf(tpls[e.Template])})
			continue
		}
		if _, ok := p.mainCRD[e.CRD]; !ok {
			p.mainCRD[e.CRD] = old
		}
		policy := policyOf(tpls[e.Template])
		d := SchemaDecision{Template: e.Template, CRD: e.CRD, Policy: policy, MainHash: e.Hash}
		live := p.live[e.CRD]
		switch {
		case live == nil:
			d.State = SchemaGone
		default:
			d.LiveHash = p.liveHash(live)
			d.State = decide(policy, e.Hash, d.LiveHash, old, live, &d.Report)
			if d.State == SchemaHeld && policy == v1alpha1.SchemaUpdateNonBreaking {
				d.Branch = staterepo.SchemaBranch(e.CRD, d.LiveHash)
			}
		}
		p.schemas = append(p.schemas, d)
	}
	// Templates that reference a live CRD main does not hold yet.
	for _, t := range p.in.Templates {
		for _, r := range t.Spec.Resources {
			if _, ok := p.main.pair(t.Name, r.String()); ok {
				continue
			}
			if live := p.live[r.String()]; live != nil {
				p.schemas = append(p.schemas, SchemaDecision{Template: t.Name, CRD: r.String(),
					Policy: t.Spec.SchemaUpdatePolicy, State: SchemaNew, LiveHash: p.liveHash(live)})
			}
		}
	}
	p.out.Schemas = p.schemas
}

// policyOf is a template's schema update policy, NonBreaking by default.
func policyOf(t *v1alpha1.APIServiceExportTemplate) v1alpha1.SchemaUpdatePolicy {
	if t != nil && t.Spec.SchemaUpdatePolicy != "" {
		return t.Spec.SchemaUpdatePolicy
	}
	return v1alpha1.SchemaUpdateNonBreaking
}

// unreadable records that main's export file of a (template, CRD) does not
// decode: a problem of the template that holds that pair in every cluster
// whose folder in main has it. Every tree of the plan keeps those files as
// main has them (renderKeeping), and the CRD's schema does not change: the
// live CRD is never taken in place of a snapshot that cannot be read, which
// would bypass the template's schemaUpdatePolicy.
func (p *planner) unreadable(e exportEntry, err error) {
	pr := render.Problem{Kind: "APIServiceExportTemplate", Name: e.Template, Reason: v1alpha1.ExportUnreadableReason,
		Message: fmt.Sprintf("main's export file %s does not decode (%v): main keeps the files of CRD %s for this template, and its schema, until the file is fixed", e.Path, err, e.CRD)}
	for c, es := range p.main.clusters {
		for _, x := range es {
			if x.Template == e.Template && x.CRD == e.CRD {
				pr.Clusters = append(pr.Clusters, c)
				pr.Holds = append(pr.Holds, render.Hold{Cluster: c, Template: e.Template, CRD: e.CRD})
			}
		}
	}
	sort.Strings(pr.Clusters)
	sort.Slice(pr.Holds, func(i, j int) bool { return pr.Holds[i].Cluster < pr.Holds[j].Cluster })
	p.problems = append(p.problems, pr)
}

// decide judges one schema change under policy.
func decide(policy v1alpha1.SchemaUpdatePolicy, mainHash, liveHash string,
	old, live *apiextensionsv1.CustomResourceDefinition, report *compat.Report) SchemaState {
	if liveHash != "" && liveHash == mainHash {
		return SchemaSame
	}
	*report = compat.Compare(old, live)
	switch policy {
	case v1alpha1.SchemaUpdateAlways:
		return SchemaRollOut
	case v1alpha1.SchemaUpdateNever:
		return SchemaHeld
	}
	if report.Breaking() {
		return SchemaHeld
	}
	return SchemaRollOut
}

// liveHash is the schema hash of a live CRD ("" when it has none), through
// the Cache when there is one: render needs the same snapshot.
func (p *planner) liveHash(crd *apiextensionsv1.CustomResourceDefinition) string {
	return p.in.Memo.liveHash(crd, p.schemaHash)
}

func (p *planner) schemaHash(crd *apiextensionsv1.CustomResourceDefinition) string {
	if p.in.Cache != nil {
		return p.in.Cache.SchemaHash(crd)
	}
	snap, err := schema.Snapshot(crd)
	if err != nil {
		return ""
	}
	h, err := schema.Hash(snap)
	if err != nil {
		return ""
	}
	return h
}

// mainCRDs returns, per CRD name, the CRD main approves: main's snapshot when
// any template holds its change (or it is gone), else the live one.
func (p *planner) approvedCRDs(rollOut map[string]bool) []apiextensionsv1.CustomResourceDefinition {
	held := map[string]bool{}
	for _, d := range p.schemas {
		if d.State == SchemaHeld || d.State == SchemaGone || d.State == SchemaUnreadable {
			held[d.CRD] = true
		}
	}
	names := map[string]bool{}
	for n := range p.live {
		names[n] = true
	}
	for n := range p.mainCRD {
		names[n] = true
	}
	var out []apiextensionsv1.CustomResourceDefinition
	for _, n := range sortedSet(names) {
		useMain := p.mainCRD[n] != nil && (held[n] || !rollOut[n])
		switch {
		case useMain:
			out = append(out, *p.mainCRD[n])
		case p.live[n] != nil:
			out = append(out, *p.live[n])
		}
	}
	return out
}

// decideRequests decides each request's approval.
func (p *planner) decideRequests() {
	tpls := p.templates()
	// sorted by namespace and name; the requests are large, so pointers
	// to them are sorted, not copies of them
	order := make([]*v1alpha1.APIServiceExportRequest, len(p.in.Requests))
	for i := range order {
		order[i] = &p.in.Requests[i]
	}
	slices.SortFunc(order, func(a, b *v1alpha1.APIServiceExportRequest) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	p.requests = p.in.Memo.decisionBuffer(len(order))
	p.objs = order
	for _, q := range order {
		d := RequestDecision{Namespace: q.Namespace, Name: q.Name, UID: q.UID,
			Cluster: clusterOf(q.Namespace), Template: q.Spec.TemplateRef.Name}
		manual := false
		if t := tpls[d.Template]; t != nil && t.Spec.Approval == v1alpha1.ApprovalManual {
			manual = true
		}
		if d.Cluster != "" && manual {
			// only a Manual request can keep its branch (see below)
			d.Branch = staterepo.ApproveBranch(d.Cluster, q.Name)
		}
		switch {
		case d.Cluster != "" && p.main.isRevoked(d.Cluster, d.Template):
			d.Approval, d.Reason = Rejected, v1alpha1.RejectedReason
			d.Message = fmt.Sprintf("template %s is revoked for cluster %s by %s on main; delete that file on main to lift the revocation",
				d.Template, d.Cluster, staterepo.RevokedPath(d.Cluster, d.Template))
			d.Branch = ""
		case p.main.holds(d.Cluster, d.Template) && !manual:
			d.Approval, d.Reason, d.Message = Approved, v1alpha1.SucceededReason, "approval is Automatic"
			d.Branch = ""
		case p.main.holds(d.Cluster, d.Template):
			d.Approval, d.Reason, d.Message = Approved, v1alpha1.SucceededReason, "approved: main holds the request's exports"
			d.Branch = ""
		case p.in.Revoked[q.UID] != "":
			d.Approval, d.Reason = Rejected, v1alpha1.RejectedReason
			d.Message = fmt.Sprintf("bind commit %s was reverted on main; recorded as %s, which rejects every request of the cluster for this template until that file is deleted on main",
				short(p.in.Revoked[q.UID]), staterepo.RevokedPath(d.Cluster, d.Template))
			d.Revoke = d.Cluster != ""
			d.Branch = ""
		case !manual:
			d.Approval, d.Reason, d.Message = Approved, v1alpha1.SucceededReason, "approval is Automatic"
			d.Branch = ""
		case wasRejected(q, d.Branch, p.in.Branches):
			d.Approval, d.Reason = Rejected, v1alpha1.RejectedReason
			d.Message = fmt.Sprintf("approval branch %s was deleted without being merged; delete and re-create the request to ask again", d.Branch)
		default:
			d.Approval, d.Reason = Pending, v1alpha1.PendingApprovalReason
			d.Message = fmt.Sprintf("waiting for branch %s to be merged into main", d.Branch)
		}
		p.requests = append(p.requests, d)
	}
}

// wasRejected: the request was pending on branch, the branch was in the
// repository (the backend writes the branch's revision into the status only
// once the branch is pushed, or seen on the remote) and it is gone. A
// branch that was planned but never pushed (a failed push) rejects nothing.
func wasRejected(q *v1alpha1.APIServiceExportRequest, branch string, branches map[string]bool) bool {
	c := meta.FindStatusCondition(q.Status.Conditions, v1alpha1.ApprovedCondition)
	if c == nil {
		return false
	}
	switch c.Reason {
	case v1alpha1.RejectedReason:
		return true
	case v1alpha1.PendingApprovalReason:
		return branch != "" && !branches[branch] && strings.HasPrefix(q.Status.Revision, staterepo.Revision{Branch: branch}.Prefix())
	}
	return false
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

// ChangedDirs compares two trees. changed is false when they hold the same
// paths with the same bytes. Otherwise dirs lists, sorted, the cluster
// folders (clusters/<name>) that hold every difference, or is nil when a
// difference lies outside every cluster folder. Slices that trees share
// (render.Cache's output) compare at the cost of a pointer comparison.
func ChangedDirs(before, after staterepo.Tree) (dirs []string, changed bool) {
	set := map[string]bool{}
	outside := false
	note := func(p string) {
		changed = true
		if d, ok := clusterDirOf(p); ok {
			set[d] = true
		} else {
			outside = true
		}
	}
	common := 0
	eq := sameBytes{}
	for p, x := range after {
		y, ok := before[p]
		if ok {
			common++
		}
		if !ok || !eq.equal(x, y) {
			note(p)
		}
	}
	if common < len(before) {
		for p := range before {
			if _, ok := after[p]; !ok {
				note(p)
			}
		}
	}
	if !changed || outside {
		return nil, changed
	}
	return sortedSet(set), true
}

// sameBytes compares byte slices, remembering the result for large ones by
// their identity: a tree read from git shares one slice per blob, a
// rendered one one slice per content, so the exports and CRDs that a
// thousand clusters share are compared once, not a thousand times.
type sameBytes map[[2]blobKey]bool

// sameBytesMin is the size from which a comparison is remembered.
const sameBytesMin = 1 << 10

func (m sameBytes) equal(x, y []byte) bool {
	if len(x) != len(y) {
		return false
	}
	if len(x) < sameBytesMin {
		return bytes.Equal(x, y)
	}
	k := [2]blobKey{{unsafe.SliceData(x), len(x)}, {unsafe.SliceData(y), len(y)}}
	eq, ok := m[k]
	if !ok {
		eq = bytes.Equal(x, y)
		m[k] = eq
	}
	return eq
}

// clusterDirOf returns clusters/<name> for a path inside that folder.
func clusterDirOf(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, staterepo.ClustersDir+"/")
	if !ok {
		return "", false
	}
	c, tail, ok := strings.Cut(rest, "/")
	if !ok || c == "" || tail == "" {
		return "", false
	}
	return p[:len(staterepo.ClustersDir)+1+len(c)], true
}

// TreesEqual reports whether two trees hold the same paths with the same bytes.
func TreesEqual(a, b staterepo.Tree) bool {
	if len(a) != len(b) {
		return false
	}
	for p, x := range a {
		y, ok := b[p]
		if !ok || !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}
