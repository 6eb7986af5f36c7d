package plan

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/compat"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// maxFindings caps the findings written into a commit body.
const maxFindings = 20

// build renders main step by step (one commit per cause: unbinds and other
// updates, then each schema roll-out, then each new bind) and then every
// pending branch on top of the result.
func (p *planner) build() Plan {
	var inMain, binds []int
	for i, d := range p.requests {
		switch {
		case d.Approval != Approved:
		case p.main.holds(d.Cluster, d.Template):
			inMain = append(inMain, i)
		default:
			binds = append(binds, i)
		}
	}
	rolled := map[string]bool{}
	nsInMain, nsGone, nsAdded := p.namespaceSets()
	base := render.Input{Templates: p.in.Templates, Clusters: p.in.Clusters, CRDs: p.approvedCRDs(rolled), Revoked: p.revocations(),
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
	prev := p.mainT
	out, t := p.renderKeeping(base, prev)
	if dirs, changed := changedDirs(prev, t); changed {
		var msg staterepo.Message
		if revoked := p.revoking(t.index()); len(revoked) > 0 {
			msg = revokeMessage(revoked, p.objs)
		} else if gone := unbound(p.main, t.index()); len(gone) > 0 {
			msg = unbindMessage(gone)
		} else {
			msg = updateMessage(changedClustersOf(prev, t, dirs))
		}
		p.out.Steps = append(p.out.Steps, p.step(prev, t, dirs, msg))
		prev = t
	} else {
		prev = prev.sameAs(t)
	}
	// each namespace that left the control plane leaves main in a commit
	// of its own
	for _, n := range nsGone {
		base.Namespaces = slices.DeleteFunc(slices.Clone(base.Namespaces), func(x v1alpha1.APIServiceNamespace) bool {
			return x.Namespace == n.Namespace && x.Name == n.Name
		})
		out, t = p.renderKeeping(base, prev)
		if dirs, changed := changedDirs(prev, t); changed {
			p.out.Steps = append(p.out.Steps, p.step(prev, t, dirs, namespaceMessage(n, true)))
			prev = t
		} else {
			prev = prev.sameAs(t)
		}
	}
	for _, crd := range p.rollOuts() {
		rolled[crd] = true
		base.CRDs = p.approvedCRDs(rolled)
		out, t = p.renderKeeping(base, prev)
		if dirs, changed := changedDirs(prev, t); changed {
			p.out.Steps = append(p.out.Steps, p.step(prev, t, dirs, p.schemaMessage(crd, t.index())))
			prev = t
		} else {
			prev = prev.sameAs(t)
		}
	}
	oneEach := binds
	if len(binds) > MaxBindCommits {
		// Thousands of new requests at once (a first start, a restore): one
		// render and one commit, not a full tree per request.
		for _, i := range binds {
			base.Requests = append(base.Requests, p.request(i))
		}
		out, t = p.renderKeeping(base, prev)
		if dirs, changed := changedDirs(prev, t); changed {
			p.out.Steps = append(p.out.Steps, p.step(prev, t, dirs, p.batchBindMessage(binds, t.index())))
			prev = t
		} else {
			prev = prev.sameAs(t)
		}
		oneEach = nil
	}
	for _, i := range oneEach {
		base.Requests = append(base.Requests, p.request(i))
		out, t = p.renderKeeping(base, prev)
		if dirs, changed := changedDirs(prev, t); changed {
			p.out.Steps = append(p.out.Steps, p.step(prev, t, dirs, bindMessage(p.request(i), resultOf(out, p.requests[i]))))
			prev = t
		} else {
			prev = prev.sameAs(t)
		}
	}
	// each new namespace comes in a commit of its own, after the binds (its
	// agent's ClusterRole is theirs); beyond MaxBindCommits, in one
	base.Namespaces = slices.Clip(base.Namespaces)
	if len(nsAdded) > MaxBindCommits {
		base.Namespaces = append(base.Namespaces, nsAdded...)
		out, t = p.renderKeeping(base, prev)
		if dirs, changed := changedDirs(prev, t); changed {
			in := slices.DeleteFunc(slices.Clone(nsAdded), func(n v1alpha1.APIServiceNamespace) bool {
				_, ok := t.tree[staterepo.NamespacePath(clusterOf(n.Namespace), n.Name)]
				return !ok
			})
			p.out.Steps = append(p.out.Steps, p.step(prev, t, dirs, batchNamespaceMessage(in)))
			prev = t
		} else {
			prev = prev.sameAs(t)
		}
		nsAdded = nil
	}
	for _, n := range nsAdded {
		base.Namespaces = append(base.Namespaces, n)
		out, t = p.renderKeeping(base, prev)
		if dirs, changed := changedDirs(prev, t); changed {
			p.out.Steps = append(p.out.Steps, p.step(prev, t, dirs, namespaceMessage(n, false)))
			prev = t
		} else {
			prev = prev.sameAs(t)
		}
	}
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
	if p.in.Cache != nil {
		p.in.Cache.Release()
	}
	return p.out
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

// revokeMessage describes the first step when it records revocations: the
// requests' bind commits were reverted on main. Each revoked request keeps
// its Bindsync-Request and Bindsync-Request-UID trailers, so the history
// search for its UID finds this commit first: the revert is recorded, and
// deleting the file lifts it.
func revokeMessage(revoked []int, objs []*v1alpha1.APIServiceExportRequest) staterepo.Message {
	first := objs[revoked[0]]
	m := staterepo.Message{Subject: fmt.Sprintf("revoke: %s <- %s", clusterOf(first.Namespace), first.Spec.TemplateRef.Name)}
	if len(revoked) > 1 {
		m.Subject += fmt.Sprintf(" (and %d more)", len(revoked)-1)
	}
	m.Body = "A bind commit was reverted on main. Each file under clusters/<cluster>/revoked/ rejects every\n" +
		"request of that cluster for that template until a commit on main deletes it."
	for _, i := range revoked {
		q := objs[i]
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCluster, Value: clusterOf(q.Namespace)}, staterepo.Trailer{Key: staterepo.TrailerTemplate, Value: q.Spec.TemplateRef.Name},
			staterepo.Trailer{Key: staterepo.TrailerRequest, Value: q.Namespace + "/" + q.Name}, staterepo.Trailer{Key: staterepo.TrailerRequestUID, Value: string(q.UID)})
	}
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseRevoke})
	return m
}

// step is one commit on main from prev to t, which differ in dirs.
func (p *planner) step(prev, t *ptree, dirs []string, msg staterepo.Message) Step {
	return Step{Tree: t.tree, Dirs: dirs, Files: filesUnder(t, dirs), Message: msg}
}

// changedDirs is ChangedDirs of two plan trees: when t was rendered from
// prev's render (render.Output.Base), only the folders render wrote anew
// are compared.
func changedDirs(prev, t *ptree) ([]string, bool) {
	if sameTree(prev.tree, t.tree) {
		return nil, false
	}
	if t.base != prev {
		return ChangedDirs(prev.tree, t.tree)
	}
	var dirs []string
	eq := sameBytes{}
	for _, ch := range t.changes {
		if folderDiffers(prev.tree, t.tree, ch, eq) {
			dirs = append(dirs, staterepo.ClustersDir+"/"+ch.Cluster)
		}
	}
	sort.Strings(dirs)
	return dirs, len(dirs) > 0
}

// folderDiffers: the folder of ch holds other paths or bytes in after than
// in before (ch.Before are its paths in before, ch.After in after).
func folderDiffers(before, after staterepo.Tree, ch render.ClusterChange, eq sameBytes) bool {
	if len(ch.Before) != len(ch.After) {
		return true
	}
	for _, p := range ch.After {
		x, ok := before[p]
		if !ok || !eq.equal(x, after[p]) {
			return true
		}
	}
	return false
}

// filesUnder returns the files of t under dirs (nil for nil dirs): from
// the folders render wrote when t was rendered from its base, else from a
// scan of the tree.
func filesUnder(t *ptree, dirs []string) staterepo.Tree {
	if dirs == nil {
		return nil
	}
	files := staterepo.Tree{}
	want := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		want[d] = true
	}
	if t.base != nil {
		found := 0
		for _, ch := range t.changes {
			if want[staterepo.ClustersDir+"/"+ch.Cluster] {
				found++
				for _, p := range ch.After {
					files[p] = t.tree[p]
				}
			}
		}
		if found == len(dirs) {
			return files
		}
		clear(files)
	}
	for p, b := range t.tree {
		if d, ok := clusterDirOf(p); ok && want[d] {
			files[p] = b
		}
	}
	return files
}

// changedClustersOf names the clusters whose files differ between prev and
// t, which differ in dirs (nil: somewhere outside every cluster folder).
func changedClustersOf(prev, t *ptree, dirs []string) []string {
	if dirs == nil {
		return changedClusters(prev.tree, t.tree)
	}
	out := make([]string, len(dirs))
	for i, d := range dirs {
		out[i] = strings.TrimPrefix(d, staterepo.ClustersDir+"/")
	}
	return out
}

func (p *planner) request(i int) v1alpha1.APIServiceExportRequest { return *p.objs[i] }

// judge fills Rendered, Exports and Problems of a request from a render.
func (p *planner) judge(i int, out render.Output, res render.RequestResult, ix *treeIndex,
	tpls map[string]*v1alpha1.APIServiceExportTemplate) {
	d := &p.requests[i]
	d.Exports = res.Exports
	d.Rendered = res.Rendered && ix.holds(d.Cluster, d.Template)
	tpl := tpls[d.Template]
	crds := map[string]bool{}
	if tpl != nil && len(out.Problems) > 0 {
		for _, r := range tpl.Spec.Resources {
			crds[r.String()] = true
		}
	}
	d.Problems = nil
	own := false // a problem of the request itself (a conflict, a duplicate)
	for _, pr := range out.Problems {
		switch {
		case pr.Kind == "APIServiceExportRequest" && pr.Namespace == d.Namespace && pr.Name == d.Name:
			d.Problems = append(d.Problems, pr)
			own = own || pr.Reason == v1alpha1.ConflictingRequestReason || pr.Reason == v1alpha1.DuplicateRequestReason ||
				pr.Reason == v1alpha1.DuplicateReason
		case pr.Kind == "APIServiceExportTemplate" && pr.Name == d.Template,
			pr.Kind == "AppCluster" && pr.Name == d.Cluster,
			pr.Kind == "CustomResourceDefinition" && crds[pr.Name]:
			d.Problems = append(d.Problems, pr)
		}
	}
	d.Kept = d.Approval == Approved && !d.Rendered && !own && len(d.Problems) > 0 &&
		p.main.holds(d.Cluster, d.Template) && ix.holds(d.Cluster, d.Template)
	d.HeldBack = nil
	if d.Rendered || len(d.Problems) > 0 {
		return
	}
	for i, pr := range out.Problems {
		if slices.Contains(pr.Clusters, d.Cluster) {
			d.HeldBack = &out.Problems[i]
			return
		}
	}
}

// results finds render's result of a request: out.Requests is sorted by
// namespace and name, as are the plan's requests, so looking them up in
// that order walks it once.
type results struct {
	rs   []render.RequestResult
	next int // rs[:next] sort before the last request asked for
	last [2]string
}

func resultsByRequest(out render.Output) *results { return &results{rs: out.Requests} }

// of returns the first result for d's namespace and name (an empty one
// when there is none).
func (r *results) of(d RequestDecision) render.RequestResult {
	key := [2]string{d.Namespace, d.Name}
	if compareKeys(key, r.last) < 0 {
		r.next = 0 // asked out of order: from the start again
	}
	r.last = key
	for r.next < len(r.rs) && compareKeys([2]string{r.rs[r.next].Namespace, r.rs[r.next].Name}, key) < 0 {
		r.next++
	}
	if r.next < len(r.rs) && r.rs[r.next].Namespace == d.Namespace && r.rs[r.next].Name == d.Name {
		return r.rs[r.next]
	}
	return render.RequestResult{}
}

func compareKeys(a, b [2]string) int {
	if c := strings.Compare(a[0], b[0]); c != 0 {
		return c
	}
	return strings.Compare(a[1], b[1])
}

func resultOf(out render.Output, d RequestDecision) render.RequestResult {
	for _, r := range out.Requests {
		if r.Namespace == d.Namespace && r.Name == d.Name {
			return r
		}
	}
	return render.RequestResult{}
}

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
	kept := !sameTree(tree, out.Tree)
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
		if out.Base != nil && sameTree(out.Base, last.rendered) {
			t.base, t.changes = last, out.Changes
		}
	}
	return out, t
}

func bindMessage(q v1alpha1.APIServiceExportRequest, res render.RequestResult) staterepo.Message {
	c := clusterOf(q.Namespace)
	m := staterepo.Message{Subject: fmt.Sprintf("bind: %s <- %s", c, q.Spec.TemplateRef.Name)}
	m.Trailers = []staterepo.Trailer{
		{Key: staterepo.TrailerCluster, Value: c},
		{Key: staterepo.TrailerRequest, Value: q.Namespace + "/" + q.Name},
		{Key: staterepo.TrailerRequestUID, Value: string(q.UID)},
		{Key: staterepo.TrailerTemplate, Value: q.Spec.TemplateRef.Name},
	}
	for _, e := range res.Exports {
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerSchemaHash, Value: e.Name + "=" + e.SchemaHash})
	}
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseBind})
	return m
}

// MaxBindCommits bounds the bind commits of one plan. Each is a render of
// the whole state, held until it is committed: at a thousand clusters that
// is some 15 MB per commit, so a backend that starts on a control plane
// with ten thousand requests main does not hold yet would render and hold
// ten thousand trees. Beyond this many new binds, they are one commit.
const MaxBindCommits = 20

// batchBindMessage describes one commit binding many requests: the subject
// counts them, the body lists them, and each keeps its Bindsync-Request and
// Bindsync-Request-UID trailers (a revert of the commit revokes them all).
func (p *planner) batchBindMessage(binds []int, after *treeIndex) staterepo.Message {
	clusters := map[string]bool{}
	var body strings.Builder
	m := staterepo.Message{}
	for _, i := range binds {
		q, d := p.request(i), p.requests[i]
		if !after.holds(d.Cluster, d.Template) {
			continue
		}
		clusters[d.Cluster] = true
		fmt.Fprintf(&body, "%s <- %s\n", d.Cluster, q.Spec.TemplateRef.Name)
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerRequest, Value: q.Namespace + "/" + q.Name}, staterepo.Trailer{Key: staterepo.TrailerRequestUID, Value: string(q.UID)})
	}
	m.Subject = fmt.Sprintf("bind: %d requests in %d clusters", len(m.Trailers)/2, len(clusters))
	m.Body = strings.TrimSuffix(body.String(), "\n")
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseBind})
	return m
}

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

// unbindMessage describes the first step when it removes bindings main
// held that the control plane no longer asks for.
func unbindMessage(gone [][2]string) staterepo.Message {
	m := staterepo.Message{Subject: fmt.Sprintf("unbind: %s <- %s", gone[0][0], gone[0][1])}
	if len(gone) > 1 {
		m.Subject += fmt.Sprintf(" (and %d more)", len(gone)-1)
	}
	for _, g := range gone {
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCluster, Value: g[0]}, staterepo.Trailer{Key: staterepo.TrailerTemplate, Value: g[1]})
	}
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseUnbind})
	return m
}

// updateMessage describes the first step when it unbinds nothing: any
// other re-render of the changed clusters.
func updateMessage(changed []string) staterepo.Message {
	m := staterepo.Message{Subject: "update: " + summarize(changed)}
	for _, c := range changed {
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCluster, Value: c})
	}
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseUpdate})
	return m
}

func (p *planner) schemaMessage(crd string, after *treeIndex) staterepo.Message {
	d, tpls := p.schemaOf(crd)
	verdict := d.Report.Verdict()
	m := staterepo.Message{Subject: fmt.Sprintf("schema: %s %s -> %s (%s)", crd, short(d.MainHash), short(d.LiveHash), verdict)}
	m.Body = fmt.Sprintf("Re-renders the %s snapshot for %d clusters.", crd, countBound(after, crd))
	if f := findingsText(d.Report); f != "" {
		m.Body += "\n\n" + f
	}
	for _, t := range tpls {
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerTemplate, Value: t})
	}
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerSchemaHash, Value: crd + "=" + d.LiveHash},
		staterepo.Trailer{Key: staterepo.TrailerCompat, Value: verdict}, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseSchema})
	return m
}

func (p *planner) heldMessage(crd string, after *treeIndex) staterepo.Message {
	d, tpls := p.schemaOf(crd)
	m := staterepo.Message{Subject: fmt.Sprintf("schema: %s %s -> %s (breaking)", crd, short(d.MainHash), short(d.LiveHash))}
	m.Body = fmt.Sprintf("Held by schemaUpdatePolicy %s of template %s: this change breaks existing users.\n"+
		"Merging this branch into main rolls it out to %d clusters.\n\n%s",
		d.Policy, strings.Join(tpls, ", "), countBound(after, crd), findingsText(d.Report))
	for _, t := range tpls {
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerTemplate, Value: t})
	}
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerSchemaHash, Value: crd + "=" + d.LiveHash},
		staterepo.Trailer{Key: staterepo.TrailerCompat, Value: d.Report.Verdict()}, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseSchema})
	return m
}

// schemaOf returns the first decision about crd and the templates binding it.
func (p *planner) schemaOf(crd string) (SchemaDecision, []string) {
	var first *SchemaDecision
	var tpls []string
	for i, d := range p.schemas {
		if d.CRD != crd || d.State == SchemaNew {
			continue
		}
		if first == nil || (first.State != SchemaHeld && d.State == SchemaHeld) {
			first = &p.schemas[i]
		}
		tpls = append(tpls, d.Template)
	}
	if first == nil {
		return SchemaDecision{CRD: crd}, tpls
	}
	return *first, tpls
}

// findingsText lists the breaking findings (rule, version, path, old, new).
func findingsText(r compat.Report) string {
	fs := r.BreakingFindings()
	if len(fs) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("Breaking findings:\n")
	for i, f := range fs {
		if i == maxFindings {
			fmt.Fprintf(&b, "... and %d more\n", len(fs)-maxFindings)
			break
		}
		b.WriteString("- " + FindingLine(f) + "\n")
	}
	return b.String()
}

// FindingLine formats one finding: rule, version and path, old and new.
func FindingLine(f compat.Finding) string {
	where := f.Path
	if f.Version != "" {
		where = f.Version + " " + where
	}
	return fmt.Sprintf("%s at %s: %q -> %q", f.Rule, strings.TrimSpace(where), f.Old, f.New)
}

func countBound(ix *treeIndex, crd string) int {
	n := 0
	for _, es := range ix.clusters {
		for _, e := range es {
			if e.CRD == crd {
				n++
			}
		}
	}
	return n
}

func changedClusters(a, b staterepo.Tree) []string {
	set := map[string]bool{}
	for p, x := range a {
		if y, ok := b[p]; !ok || string(x) != string(y) {
			set[clusterOfPath(p)] = true
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			set[clusterOfPath(p)] = true
		}
	}
	delete(set, "")
	return sortedSet(set)
}

func clusterOfPath(p string) string {
	rest, ok := strings.CutPrefix(p, staterepo.ClustersDir+"/")
	if !ok {
		return ""
	}
	c, _, _ := strings.Cut(rest, "/")
	return c
}

func summarize(clusters []string) string {
	switch {
	case len(clusters) == 0:
		return "repository files"
	case len(clusters) <= 3:
		return strings.Join(clusters, ", ")
	}
	return fmt.Sprintf("%s and %d more clusters", strings.Join(clusters[:3], ", "), len(clusters)-3)
}
