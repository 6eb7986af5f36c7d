package render

import (
	"cmp"
	"slices"
	"sort"
	"strings"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// A bad object never removes what was rendered before: the object whose
// input is bad keeps its last good files, and everything else renders as
// usual. This file decides what a problem holds back (ClustersOf, the
// Holds of a problem) and builds the tree to write (KeepLastGood, Keep).
// It reads only the Input and the problems, never how they were found, so
// the rule holds whatever check produced a problem.

// ClustersOf returns the app clusters, sorted, whose render a problem with
// the object kind, namespace and name may have changed:
//
//   - an AppCluster: that cluster;
//   - an APIServiceExportRequest: the cluster of its namespace;
//   - an APIServiceExportTemplate: every cluster with a request for it;
//   - a CustomResourceDefinition: every cluster with a request for a
//     template that binds it.
//
// Every copy of every object in in counts, valid or not, so a Duplicate or
// an invalid object holds back every cluster any copy would have touched.
// Names that cannot be a cluster's (no folder can exist for them) and other
// kinds return nothing.
func ClustersOf(in Input, kind, namespace, name string) []string {
	return newDependents(in).clustersOf(kind, namespace, name)
}

// KeepLastGood returns the tree to write when out has problems: out.Tree,
// except that every object a problem holds back (Problem.Holds) keeps the
// files it has in last, the tree written before (see Keep). With no
// problems it returns out.Tree itself.
func KeepLastGood(out Output, last staterepo.Tree) staterepo.Tree {
	return Keep(out.Tree, last, out.Holds())
}

// Holds returns the holds of every problem, sorted, each once.
func (o Output) Holds() []Hold {
	var out []Hold
	for _, p := range o.Problems {
		out = append(out, p.Holds...)
	}
	return sortHolds(out)
}

func sortHolds(hs []Hold) []Hold {
	slices.SortFunc(hs, func(a, b Hold) int {
		return cmp.Or(strings.Compare(a.Cluster, b.Cluster), strings.Compare(a.Template, b.Template), strings.Compare(a.CRD, b.CRD))
	})
	return slices.Compact(hs)
}

// HeldClusters returns the clusters any problem may have changed, sorted.
func (o Output) HeldClusters() []string {
	set := map[string]bool{}
	for _, p := range o.Problems {
		for _, c := range p.Clusters {
			set[c] = true
		}
	}
	return sortedKeys(set)
}

// TreeClusters returns the clusters that have a folder in t, sorted.
func TreeClusters(t staterepo.Tree) []string {
	set := map[string]bool{}
	for p := range t {
		if c := clusterOfPath(p); c != "" {
			set[c] = true
		}
	}
	return sortedKeys(set)
}

// clusterOfPath returns the cluster whose folder holds p, or "" when p is
// not inside a cluster folder.
func clusterOfPath(p string) string {
	rest, ok := strings.CutPrefix(p, staterepo.ClustersDir+"/")
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return name
}

// withClusters sets Clusters and Holds on every problem.
func withClusters(in Input, problems []Problem) []Problem {
	if len(problems) == 0 {
		return problems
	}
	d := newDependents(in)
	for i := range problems {
		p := &problems[i]
		p.Clusters = d.clustersOf(p.Kind, p.Namespace, p.Name)
		p.Holds = d.holdsOf(*p)
	}
	return problems
}

// dependents indexes which clusters depend on each template and CRD.
type dependents struct {
	byTemplate map[string]map[string]bool    // template -> clusters with a request for it
	byCRD      map[string]map[string]bool    // CRD name -> templates that bind it
	byRequest  map[[2]string]map[string]bool // namespace, name -> templates its copies name
}

func newDependents(in Input) dependents {
	d := dependents{byTemplate: map[string]map[string]bool{}, byCRD: map[string]map[string]bool{}, byRequest: map[[2]string]map[string]bool{}}
	for _, q := range in.Requests {
		if c := clusterOfNamespace(q.Namespace); c != "" {
			addTo(d.byTemplate, q.Spec.TemplateRef.Name, c)
			k := [2]string{q.Namespace, q.Name}
			if d.byRequest[k] == nil {
				d.byRequest[k] = map[string]bool{}
			}
			d.byRequest[k][q.Spec.TemplateRef.Name] = true
		}
	}
	for _, t := range in.Templates {
		for _, res := range t.Spec.Resources {
			addTo(d.byCRD, res.String(), t.Name)
		}
	}
	return d
}

func (d dependents) clustersOf(kind, namespace, name string) []string {
	set := map[string]bool{}
	switch kind {
	case kindCluster:
		if ValidateClusterName(name) == "" {
			set[name] = true
		}
	case kindRequest:
		if c := clusterOfNamespace(namespace); c != "" {
			set[c] = true
		}
	case kindTemplate:
		for c := range d.byTemplate[name] {
			set[c] = true
		}
	case kindCRD:
		for t := range d.byCRD[name] {
			for c := range d.byTemplate[t] {
				set[c] = true
			}
		}
	}
	return sortedKeys(set)
}

// holdsOf returns what a problem holds back, sorted (see Problem.Holds):
//
//   - an AppCluster: its whole folder;
//   - an APIServiceExportRequest: in its cluster, the exports of the
//     template each copy of it names; nothing when it only conflicts with
//     or duplicates a bound request, or is revoked;
//   - an APIServiceExportTemplate: its exports in every cluster with a
//     request for it;
//   - a CustomResourceDefinition: its exports, through each template that
//     binds it, in every cluster with a request for that template.
func (d dependents) holdsOf(p Problem) []Hold {
	var out []Hold
	switch p.Kind {
	case kindCluster:
		if ValidateClusterName(p.Name) == "" {
			out = append(out, Hold{Cluster: p.Name})
		}
	case kindRequest:
		c := clusterOfNamespace(p.Namespace)
		if c == "" || holdsNothing[p.Reason] {
			break
		}
		for t := range d.byRequest[[2]string{p.Namespace, p.Name}] {
			if t != "" {
				out = append(out, Hold{Cluster: c, Template: t})
			}
		}
	case kindTemplate:
		for c := range d.byTemplate[p.Name] {
			out = append(out, Hold{Cluster: c, Template: p.Name})
		}
	case kindCRD:
		for t := range d.byCRD[p.Name] {
			for c := range d.byTemplate[t] {
				out = append(out, Hold{Cluster: c, Template: t, CRD: p.Name})
			}
		}
	}
	return sortHolds(out)
}

// holdsNothing are the reasons of request problems that keep nothing: the
// request renders nothing by design, so what its cluster had stays only
// through the requests that rendered it.
var holdsNothing = map[string]bool{
	v1alpha1.ConflictingRequestReason: true,
	v1alpha1.DuplicateRequestReason:   true,
	v1alpha1.RejectedReason:           true,
}

// clusterOfNamespace returns the cluster a bindsync-<cluster> namespace
// belongs to, or "" when no cluster folder can belong to it.
func clusterOfNamespace(ns string) string {
	c, ok := strings.CutPrefix(ns, v1alpha1.ClusterNamespacePrefix)
	if !ok || ValidateClusterName(c) != "" {
		return ""
	}
	return c
}

func addTo(m map[string]map[string]bool, key, value string) {
	if m[key] == nil {
		m[key] = map[string]bool{}
	}
	m[key][value] = true
}

func sortedKeys(set map[string]bool) []string {
	if len(set) == 0 {
		return nil
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
