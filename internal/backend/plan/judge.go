package plan

import (
	"slices"
	"strings"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
)

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
