package plan

import (
	"slices"
	"sort"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// build renders main step by step (one commit per cause: unbinds and other
// updates, then each schema roll-out, then each new bind) and then every
// pending branch on top of the result.
func (p *planner) build() Plan {
	if p.in.Cache != nil {
		// the plan never modifies its input: while it renders, the CRDs it
		// renders again and again are found by identity
		release := p.in.Cache.Hold()
		defer release()
	}
	inMain, binds := p.approvedSplit()
	nsInMain, nsGone, nsAdded := p.namespaceSets()
	base := render.Input{Templates: p.in.Templates, Clusters: p.in.Clusters, CRDs: p.approvedCRDs(nil), Revoked: p.revocations(),
		Namespaces: append(slices.Clip(nsInMain), nsGone...)}
	if len(inMain) == len(p.in.Requests) {
		// every request is on main: render reads them where they are (it
		// does not care for their order, and nothing is appended)
		base.Requests = p.in.Requests[:len(p.in.Requests):len(p.in.Requests)]
	} else {
		// copies of the requests, in a buffer the memo keeps from plan to
		// plan: at 10,000 requests a fresh one is megabytes per reconcile
		buf := p.in.Memo.requestBuffer(len(inMain) + len(binds))
		defer func() { p.in.Memo.putRequestBuffer(buf[:len(inMain)+len(binds)]) }()
		base.Requests = buf
		for _, i := range inMain {
			base.Requests = append(base.Requests, p.request(i))
		}
	}
	base, out, prev := p.mainSteps(base, binds, nsGone, nsAdded)
	p.decideNamespaces(out, prev.tree)
	p.out.Main = prev.tree
	p.out.Problems, p.out.Warnings = out.Problems, out.Warnings
	// One index of main and one lookup of render's results for every
	// request: at 10,000 requests, indexing the tree per request cost
	// minutes of CPU in every reconcile (docs/scale.md). A step's index is
	// derived from the one before, reading only the folders it changed.
	ix, results := prev.index(), resultsByRequest(out)
	tpls := p.templates()
	for _, i := range inMain {
		p.judge(i, out, results.of(p.requests[i]), ix, tpls)
	}
	for _, i := range binds {
		p.judge(i, out, results.of(p.requests[i]), ix, tpls)
	}
	p.pendingBranches(base, prev)
	p.schemaBranches(base, prev)
	sort.Slice(p.out.Branches, func(i, j int) bool { return p.out.Branches[i].Name < p.out.Branches[j].Name })
	held := map[string][]SchemaDecision{}
	for i := range p.requests {
		t := p.requests[i].Template
		h, ok := held[t]
		if !ok {
			h = p.heldFor(t)
			held[t] = h
		}
		p.requests[i].Held = h
	}
	p.out.Requests = p.requests
	p.in.Memo.keep(prev)
	p.in.Memo.planned()
	return p.out
}

// approvedSplit returns the indexes of the approved requests main holds
// and of the ones it does not hold yet (the binds).
func (p *planner) approvedSplit() (inMain, binds []int) {
	for i, d := range p.requests {
		switch {
		case d.Approval != Approved:
		case p.main.holds(d.Cluster, d.Template):
			inMain = append(inMain, i)
		default:
			binds = append(binds, i)
		}
	}
	return inMain, binds
}

// mainSteps renders main's steps from base (the approved requests main
// holds, main's namespaces and the ones that left): the first step
// (revocations, unbinds, updates), each namespace that left, each schema
// roll-out, the binds, the new namespaces. It returns base with everything
// added, the last render and main's tree after the steps.
func (p *planner) mainSteps(base render.Input, binds []int, nsGone, nsAdded []v1alpha1.APIServiceNamespace) (render.Input, render.Output, *ptree) {
	prev := p.mainT
	rolled := map[string]bool{}
	out, prev := p.addStep(base, prev, func(_ render.Output, t *ptree, dirs []string) staterepo.Message {
		if revoked := p.revoking(t.index()); len(revoked) > 0 {
			return revokeMessage(revoked, p.objs)
		}
		if gone := unbound(p.main, t.index()); len(gone) > 0 {
			return unbindMessage(gone)
		}
		return updateMessage(changedClustersOf(prev, t, dirs))
	})
	// each namespace that left the control plane leaves main in a commit
	// of its own
	for _, n := range nsGone {
		base.Namespaces = slices.DeleteFunc(slices.Clone(base.Namespaces), func(x v1alpha1.APIServiceNamespace) bool {
			return x.Namespace == n.Namespace && x.Name == n.Name
		})
		out, prev = p.addStep(base, prev, func(render.Output, *ptree, []string) staterepo.Message { return namespaceMessage(n, true) })
	}
	for _, crd := range p.rollOuts() {
		rolled[crd] = true
		base.CRDs = p.approvedCRDs(rolled)
		out, prev = p.addStep(base, prev, func(_ render.Output, t *ptree, _ []string) staterepo.Message { return p.schemaMessage(crd, t.index()) })
	}
	oneEach := binds
	if len(binds) > MaxBindCommits {
		// Thousands of new requests at once (a first start, a restore): one
		// render and one commit, not a full tree per request.
		for _, i := range binds {
			base.Requests = append(base.Requests, p.request(i))
		}
		out, prev = p.addStep(base, prev, func(_ render.Output, t *ptree, _ []string) staterepo.Message {
			return p.batchBindMessage(binds, t.index())
		})
		oneEach = nil
	}
	for _, i := range oneEach {
		base.Requests = append(base.Requests, p.request(i))
		out, prev = p.addStep(base, prev, func(out render.Output, _ *ptree, _ []string) staterepo.Message {
			return bindMessage(p.request(i), resultOf(out, p.requests[i]))
		})
	}
	// each new namespace comes in a commit of its own, after the binds (its
	// agent's ClusterRole is theirs); beyond MaxBindCommits, in one
	base.Namespaces = slices.Clip(base.Namespaces)
	if len(nsAdded) > MaxBindCommits {
		base.Namespaces = append(base.Namespaces, nsAdded...)
		out, prev = p.addStep(base, prev, func(_ render.Output, t *ptree, _ []string) staterepo.Message {
			in := slices.DeleteFunc(slices.Clone(nsAdded), func(n v1alpha1.APIServiceNamespace) bool {
				_, ok := t.tree[staterepo.NamespacePath(clusterOf(n.Namespace), n.Name)]
				return !ok
			})
			return batchNamespaceMessage(in)
		})
		nsAdded = nil
	}
	for _, n := range nsAdded {
		base.Namespaces = append(base.Namespaces, n)
		out, prev = p.addStep(base, prev, func(render.Output, *ptree, []string) staterepo.Message { return namespaceMessage(n, false) })
	}
	return base, out, prev
}

// addStep renders base on prev, main's tree so far. When the tree changed,
// it adds a step to it with the message msg makes of the render, the new
// tree and the folders that changed. It returns the render and the tree
// main holds after.
func (p *planner) addStep(base render.Input, prev *ptree, msg func(render.Output, *ptree, []string) staterepo.Message) (render.Output, *ptree) {
	out, t := p.renderKeeping(base, prev)
	dirs, changed := changedDirs(prev, t)
	if !changed {
		return out, prev.sameAs(t)
	}
	p.out.Steps = append(p.out.Steps, p.step(prev, t, dirs, msg(out, t, dirs)))
	return out, t
}

// revocations are main's revocations and the ones this plan records.
func (p *planner) revocations() []render.Revocation {
	out := p.main.revocations()
	for _, d := range p.requests {
		if d.Revoke && !p.main.isRevoked(d.Cluster, d.Template) {
			out = append(out, render.Revocation{Cluster: d.Cluster, Template: d.Template})
		}
	}
	return out
}

// revoking returns the indexes of the requests whose revocation a tree
// records that main does not.
func (p *planner) revoking(after *treeIndex) []int {
	var out []int
	for i, d := range p.requests {
		if d.Revoke && !p.main.isRevoked(d.Cluster, d.Template) && after.isRevoked(d.Cluster, d.Template) {
			out = append(out, i)
		}
	}
	return out
}

// step is one commit on main from prev to t, which differ in dirs.
func (p *planner) step(prev, t *ptree, dirs []string, msg staterepo.Message) Step {
	return Step{Tree: t.tree, Dirs: dirs, Files: filesUnder(t, dirs), Message: msg}
}

func (p *planner) request(i int) v1alpha1.APIServiceExportRequest { return *p.objs[i] }

// rollOuts returns the CRDs whose live schema replaces main's, sorted: at
// least one template rolls it out and none holds it.
func (p *planner) rollOuts() []string {
	roll, held := map[string]bool{}, map[string]bool{}
	for _, d := range p.schemas {
		switch d.State {
		case SchemaRollOut:
			roll[d.CRD] = true
		case SchemaHeld, SchemaGone, SchemaUnreadable:
			held[d.CRD] = true
		}
	}
	for c := range held {
		delete(roll, c)
	}
	return sortedSet(roll)
}

func (p *planner) heldFor(template string) []SchemaDecision {
	var out []SchemaDecision
	for _, d := range p.schemas {
		if d.Template == template && d.State == SchemaHeld {
			out = append(out, d)
		}
	}
	return out
}

// renderKeeping renders in; every cluster a problem holds back keeps its
// files from last.
// Files bindsync does not own (outside clusters/, other than README.md and
// the marker: a CODEOWNERS, a CI workflow another writer added) are carried
// over from last unchanged. Every tree of a plan holds the same such files
// as main, so they are looked for among main's paths outside clusters/.
func (p *planner) renderKeeping(in render.Input, last *ptree) (render.Output, *ptree) {
	out := p.in.Cache.Render(in)
	tree := render.KeepLastGood(out, last.tree)
	if len(p.problems) > 0 {
		out.Problems = append(slices.Clip(out.Problems), p.problems...)
		sort.SliceStable(out.Problems, func(i, j int) bool { return out.Problems[i].String() < out.Problems[j].String() })
		tree = render.Keep(out.Tree, last.tree, out.Holds())
	}
	kept := !staterepo.SameTree(tree, out.Tree)
	copied := kept // render's trees are shared with later renders: extend a copy
	for _, path := range p.mainT.outside() {
		if _, ours := out.Tree[path]; ours {
			continue
		}
		if b, ok := last.tree[path]; ok {
			if !copied {
				tree, copied = copyTree(tree), true
			}
			tree[path] = b
		}
	}
	t := &ptree{tree: tree}
	if !kept {
		t.rendered = out.Tree
		if out.Base != nil && staterepo.SameTree(out.Base, last.rendered) {
			t.base, t.changes = last, out.Changes
		}
	}
	return out, t
}

// MaxBindCommits bounds the bind commits of one plan. Each is a render of
// the whole state, held until it is committed: at a thousand clusters that
// is some 15 MB per commit, so a backend that starts on a control plane
// with ten thousand requests main does not hold yet would render and hold
// ten thousand trees. Beyond this many new binds, they are one commit.
const MaxBindCommits = 20

// unbound returns the bindings main held that after no longer holds.
func unbound(before, after *treeIndex) [][2]string {
	var gone [][2]string
	for _, pr := range before.pairs() {
		if !after.holds(pr[0], pr[1]) {
			gone = append(gone, pr)
		}
	}
	return gone
}
