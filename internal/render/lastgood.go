package render

import (
	"sort"
	"strings"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// A bad object never removes what was rendered before: every cluster whose
// render a problem may have changed keeps its last good files, and every
// other cluster renders as usual. This file decides which clusters a problem
// holds back (ClustersOf) and builds the tree to write (KeepLastGood). It
// reads only the Input and the problems, never how they were found, so the
// rule holds whatever check produced a problem.

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
// except that every cluster a problem holds back (Problem.Clusters) has
// exactly the files it has in last, the tree written before. A held-back
// cluster that last has no files for gets none; files outside cluster
// folders (README.md, the marker) come from out. With no problems it
// returns out.Tree itself.
func KeepLastGood(out Output, last Tree) Tree {
	return KeepClusters(out.Tree, last, out.HeldClusters())
}

// KeepClusters returns tree with the folders of clusters replaced by what
// last holds for them. tree and last are not modified; the result shares
// their byte slices.
func KeepClusters(tree, last Tree, clusters []string) Tree {
	if len(clusters) == 0 {
		return tree
	}
	held := make(map[string]bool, len(clusters))
	for _, c := range clusters {
		held[c] = true
	}
	kept := make(Tree, len(tree))
	for p, b := range tree {
		if !held[clusterOfPath(p)] {
			kept[p] = b
		}
	}
	for p, b := range last {
		if held[clusterOfPath(p)] {
			kept[p] = b
		}
	}
	return kept
}

// HeldClusters returns the clusters any problem holds back, sorted.
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
func TreeClusters(t Tree) []string {
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
	rest, ok := strings.CutPrefix(p, ClustersDir+"/")
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return name
}

// withClusters sets Clusters on every problem.
func withClusters(in Input, problems []Problem) []Problem {
	if len(problems) == 0 {
		return problems
	}
	d := newDependents(in)
	for i := range problems {
		p := &problems[i]
		p.Clusters = d.clustersOf(p.Kind, p.Namespace, p.Name)
	}
	return problems
}

// dependents indexes which clusters depend on each template and CRD.
type dependents struct {
	byTemplate map[string]map[string]bool // template -> clusters with a request for it
	byCRD      map[string]map[string]bool // CRD name -> templates that bind it
}

func newDependents(in Input) dependents {
	d := dependents{byTemplate: map[string]map[string]bool{}, byCRD: map[string]map[string]bool{}}
	for _, q := range in.Requests {
		if c := clusterOfNamespace(q.Namespace); c != "" {
			addTo(d.byTemplate, q.Spec.TemplateRef.Name, c)
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
