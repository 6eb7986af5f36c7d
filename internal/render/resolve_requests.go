package render

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// assignRequests binds each request's CRDs into its cluster. Requests are
// taken oldest first (then by name), so when two requests of one cluster bind
// the same CRD the older one keeps it and the newer one is reported.
func (r *renderer) assignRequests() {
	reqs := make([]*v1alpha1.APIServiceExportRequest, len(r.in.Requests))
	for i := range r.in.Requests {
		reqs[i] = &r.in.Requests[i]
	}
	slices.SortStableFunc(reqs, func(a, b *v1alpha1.APIServiceExportRequest) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	reqs = r.uniqueRequests(reqs)
	if len(reqs) > 0 {
		r.results = make([]RequestResult, 0, len(reqs))
	}
	tpls := make([]*templateEntry, len(reqs))
	for i, req := range reqs {
		tpls[i] = r.templates[req.Spec.TemplateRef.Name]
	}
	hint := 0 // bindings the requests of the current namespace ask for at most
	for i, req := range reqs {
		if i == 0 || req.Namespace != reqs[i-1].Namespace {
			hint = 0
			for j := i; j < len(reqs) && reqs[j].Namespace == req.Namespace; j++ {
				if tpls[j] != nil {
					hint += len(tpls[j].crds)
				}
			}
		}
		res := RequestResult{Namespace: req.Namespace, Name: req.Name, Template: req.Spec.TemplateRef.Name}
		if reason, msg := r.assign(req, tpls[i], hint, &res); reason != "" {
			r.problems.add(kindRequest, req.Namespace, req.Name, reason, msg)
		}
		r.results = append(r.results, res)
	}
	slices.SortFunc(r.results, func(a, b RequestResult) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, c := range r.clusters {
		slices.SortFunc(c.bindings, func(a, b binding) int { return strings.Compare(a.crd.crd.Name, b.crd.crd.Name) })
	}
}

// uniqueRequests is unique for requests sorted by namespace: copies of a
// request (same namespace and name) that are equal collapse to one; copies
// that differ are all left out and reported as Duplicate. Copies can only be
// in one namespace's run, so each run is checked on its own.
func (r *renderer) uniqueRequests(reqs []*v1alpha1.APIServiceExportRequest) []*v1alpha1.APIServiceExportRequest {
	out := make([]*v1alpha1.APIServiceExportRequest, 0, len(reqs))
	for start := 0; start < len(reqs); {
		end := start + 1
		for end < len(reqs) && reqs[end].Namespace == reqs[start].Namespace {
			end++
		}
		run := reqs[start:end]
		start = end
		if !hasDuplicateName(run) {
			out = append(out, run...)
			continue
		}
		copies := map[string][]*v1alpha1.APIServiceExportRequest{}
		for _, q := range run {
			copies[q.Name] = append(copies[q.Name], q)
		}
		dropped := map[string]bool{}
		for _, name := range sortedKeys(boolSet(copies)) {
			c := copies[name]
			same := true
			for _, q := range c[1:] {
				same = same && reflect.DeepEqual(c[0], q)
			}
			if !same {
				dropped[name] = true
				r.problems.add(kindRequest, c[0].Namespace, name, v1alpha1.DuplicateReason,
					fmt.Sprintf("defined %d times with different contents; none is used", len(c)))
			}
		}
		seen := map[string]bool{}
		for _, q := range run {
			if !dropped[q.Name] && !seen[q.Name] {
				seen[q.Name] = true
				out = append(out, q)
			}
		}
	}
	return out
}

// hasDuplicateName reports whether two requests of one namespace's run
// share a name.
func hasDuplicateName(run []*v1alpha1.APIServiceExportRequest) bool {
	if len(run) > 32 {
		seen := make(map[string]bool, len(run))
		for _, q := range run {
			if seen[q.Name] {
				return true
			}
			seen[q.Name] = true
		}
		return false
	}
	for i, q := range run {
		for _, p := range run[:i] {
			if p.Name == q.Name {
				return true
			}
		}
	}
	return false
}

func boolSet[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func (r *renderer) assign(req *v1alpha1.APIServiceExportRequest, tpl *templateEntry, hint int, res *RequestResult) (reason, msg string) {
	name, ok := strings.CutPrefix(req.Namespace, v1alpha1.ClusterNamespacePrefix)
	switch {
	case !ok || name == "":
		return v1alpha1.ClusterNotFoundReason, fmt.Sprintf("namespace %q is not an app cluster namespace (%s<cluster>)", req.Namespace, v1alpha1.ClusterNamespacePrefix)
	case r.invalid[name]:
		return v1alpha1.ClusterNotFoundReason, fmt.Sprintf("AppCluster %q is invalid, see its problem", name)
	}
	cluster := r.byName[name]
	if cluster == nil {
		return v1alpha1.ClusterNotFoundReason, fmt.Sprintf("no AppCluster %q for namespace %s", name, req.Namespace)
	}
	res.Cluster = name
	switch {
	case req.Spec.TemplateRef.Name == "":
		return v1alpha1.TemplateNotFoundReason, "spec.templateRef.name is empty"
	case tpl == nil:
		return v1alpha1.TemplateNotFoundReason, fmt.Sprintf("template %q does not exist", req.Spec.TemplateRef.Name)
	case tpl.problem != "":
		return v1alpha1.InvalidTemplateReason, fmt.Sprintf("template %q cannot be rendered: %s", tpl.tpl.Name, tpl.problem)
	}
	if slices.Contains(cluster.revoked, tpl.tpl.Name) {
		return v1alpha1.RejectedReason, fmt.Sprintf("template %q is revoked for cluster %s by %s in the state repository; delete that file on main to lift it",
			tpl.tpl.Name, name, staterepo.RevokedPath(name, tpl.tpl.Name))
	}
	for _, crd := range tpl.crds {
		other, taken := cluster.boundBy(crd)
		switch {
		case taken && other.template == tpl:
			return v1alpha1.DuplicateRequestReason, fmt.Sprintf("template %q is already bound in cluster %s by request %s; this request renders nothing and holds nothing back: delete it",
				tpl.tpl.Name, name, other.request)
		case taken:
			return v1alpha1.ConflictingRequestReason, fmt.Sprintf("CRD %s is already bound in cluster %s by request %s", crd.crd.Name, name, other.request)
		}
	}
	res.Exports = make([]ExportResult, 0, len(tpl.crds))
	if cluster.bindings == nil {
		cluster.bindings = make([]binding, 0, hint)
	}
	for i, crd := range tpl.crds {
		cluster.bind(binding{template: tpl, crd: crd, index: i, request: req.Name})
		res.Exports = append(res.Exports, ExportResult{Name: crd.crd.Name, SchemaHash: crd.hash})
	}
	slices.SortFunc(res.Exports, func(a, b ExportResult) int { return strings.Compare(a.Name, b.Name) })
	res.Rendered = true
	return "", ""
}

// boundBy returns the binding that already binds crd in the cluster. A
// cluster binds a few CRDs, so its bindings are searched in order; one that
// binds many gets an index.
func (c *clusterEntry) boundBy(crd *crdEntry) (binding, bool) {
	if c.bound != nil {
		b, ok := c.bound[crd]
		return b, ok
	}
	for _, b := range c.bindings {
		if b.crd == crd {
			return b, true
		}
	}
	return binding{}, false
}

func (c *clusterEntry) bind(b binding) {
	c.bindings = append(c.bindings, b)
	switch {
	case c.bound != nil:
		c.bound[b.crd] = b
	case len(c.bindings) > 32:
		c.bound = make(map[*crdEntry]binding, 2*len(c.bindings))
		for _, b := range c.bindings {
			c.bound[b.crd] = b
		}
	}
}

func storageVersion(s v1alpha1.CRDSnapshot) string {
	for _, v := range s.Versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}
