package plan

import (
	"slices"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
)

// pendingBranches renders main plus each pending request, or takes what
// the plan before made of it when nothing it reads changed (pendingMemo).
func (p *planner) pendingBranches(base render.Input, mainTree *ptree) {
	memo := p.pendingMemo(base)
	var tpls map[string]*v1alpha1.APIServiceExportTemplate
	// one buffer for every branch's input, one render after another (a
	// render keeps nothing of its input): at 10,000 requests a copy is
	// megabytes per pending request
	var buf []v1alpha1.APIServiceExportRequest
	defer func() { clear(buf) }()
	for i, d := range p.requests {
		if d.Approval != Pending {
			continue
		}
		var key string
		if memo {
			key = pendingKey(p.objs[i], d)
			if e := p.in.Memo.pendingBranchOf(key); e != nil {
				p.takePending(i, e)
				continue
			}
		}
		if tpls == nil {
			tpls = p.templates()
		}
		buf = append(append(buf[:0], base.Requests...), p.request(i))
		e := p.pendingBranch(i, base, buf, mainTree, tpls)
		if memo {
			p.in.Memo.keepPendingBranch(key, e)
		}
		p.takePending(i, e)
	}
}

// pendingMemo reports whether the plan's pending branches go through the
// memo, and starts them on this plan's base.
func (p *planner) pendingMemo(base render.Input) bool {
	if p.in.Memo == nil || p.in.Cache == nil || len(p.problems) > 0 {
		return false
	}
	pending := false
	for _, d := range p.requests {
		pending = pending || d.Approval == Pending
	}
	if !pending {
		return false
	}
	key, ok := p.in.Cache.Key(base)
	if !ok {
		return false
	}
	p.in.Memo.pendingBase(key, p.mainT.tree)
	return true
}

// pendingBranch renders main plus pending request i (base with requests)
// and judges it.
func (p *planner) pendingBranch(i int, base render.Input, requests []v1alpha1.APIServiceExportRequest, mainTree *ptree,
	tpls map[string]*v1alpha1.APIServiceExportTemplate) *pendingBranch {
	d := p.requests[i]
	in := base
	in.Requests = requests
	out, t := p.renderKeeping(in, mainTree)
	res := resultOf(out, d)
	p.judge(i, out, res, t.index(), tpls)
	j := p.requests[i]
	e := &pendingBranch{exports: j.Exports, rendered: j.Rendered, kept: j.Kept, heldBack: j.HeldBack,
		problems: slices.Clip(j.Problems)}
	dirs, changed := changedDirs(mainTree, t)
	if !changed {
		return e
	}
	b := BranchPlan{Name: d.Branch, Tree: t.tree, Dirs: dirs, Files: filesUnder(t, dirs), Message: bindMessage(p.request(i), res)}
	if dirs != nil {
		b.Tree = nil // Plan.Main with Files in Dirs (BranchPlan.TreeOn)
	}
	e.branch = &b
	return e
}

// takePending records e as what the plan made of pending request i.
func (p *planner) takePending(i int, e *pendingBranch) {
	d := &p.requests[i]
	d.Exports, d.Rendered, d.Kept, d.HeldBack, d.Problems = e.exports, e.rendered, e.kept, e.heldBack, e.problems
	if e.branch == nil {
		// Nothing to approve: a problem holds the request back.
		d.Branch = ""
		d.Message = "nothing to approve until the request renders"
		return
	}
	p.out.Branches = append(p.out.Branches, *e.branch)
}

// schemaBranches renders main with each held CRD at its live version.
func (p *planner) schemaBranches(base render.Input, mainTree *ptree) {
	done := map[string]bool{}
	for _, d := range p.schemas {
		if d.Branch == "" || done[d.Branch] {
			continue
		}
		done[d.Branch] = true
		in := base
		in.CRDs = nil
		for _, c := range base.CRDs {
			if c.Name == d.CRD {
				c = *p.live[d.CRD]
			}
			in.CRDs = append(in.CRDs, c)
		}
		_, t := p.renderKeeping(in, mainTree)
		dirs, changed := changedDirs(mainTree, t)
		if !changed {
			continue
		}
		p.out.Branches = append(p.out.Branches, BranchPlan{Name: d.Branch, Tree: t.tree, Dirs: dirs, Files: filesUnder(t, dirs),
			Message: p.heldMessage(d.CRD, t.index())})
	}
}
