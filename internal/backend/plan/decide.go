package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/compat"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/schema"
	"github.com/bindsync/bindsync/internal/staterepo"
)

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
