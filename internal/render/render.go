package render

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Input is everything Render reads: the control plane's objects as plain
// values. Order does not matter; Render sorts what it needs to.
type Input struct {
	CRDs      []apiextensionsv1.CustomResourceDefinition
	Templates []v1alpha1.APIServiceExportTemplate
	Clusters  []v1alpha1.AppCluster
	Requests  []v1alpha1.APIServiceExportRequest
	// Revoked are the templates revoked for a cluster (see Revocation).
	Revoked []Revocation
	// Namespaces are the APIServiceNamespaces of the app clusters: each in
	// bindsync-<cluster> of a valid AppCluster, named after an app
	// namespace, renders NamespacePath(cluster, name).
	Namespaces []v1alpha1.APIServiceNamespace
}

// Revocation revokes one template for one app cluster, whatever the
// requests: render writes it as RevokedPath(Cluster, Template) in the
// cluster's folder (a valid cluster with an AppCluster; a template name
// that is a DNS subdomain) and binds no request of that cluster for that
// template (Rejected). The state repository is the record: the backend
// adds one when a bind commit is reverted on main, `bindsync render` reads
// them back from --out, and deleting the file on main lifts it.
type Revocation struct {
	Cluster, Template string
}

// Output is what Render produces.
type Output struct {
	// Tree holds every file of the state repository.
	Tree staterepo.Tree
	// Problems are objects that could not be rendered (sorted). Each names
	// the clusters it holds back: Tree renders them without the bad object,
	// which a writer must not publish as is (see KeepLastGood).
	Problems []Problem
	// Warnings are objects rendered with a caveat the operator should see,
	// such as versions left out of a webhook-converted CRD (sorted).
	Warnings []Problem
	// Requests has one entry per input request, sorted by namespace and
	// name, saying whether and what it rendered.
	Requests []RequestResult
	// Base, when not nil, is the tree of an earlier render through the
	// same Cache that Tree was made from: Tree holds the same paths with
	// the same bytes as Base everywhere but in the cluster folders of
	// Changes (sorted by cluster), where Before are Base's paths and After
	// Tree's. Tree is Base itself when nothing changed. Trees and request
	// results a Cache returns are shared with later outputs: never modify
	// one.
	Base    staterepo.Tree
	Changes []ClusterChange
}

// RequestResult is the outcome of one APIServiceExportRequest.
type RequestResult struct {
	Namespace string
	Name      string
	// Cluster is the app cluster the request belongs to ("" when its
	// namespace belongs to none).
	Cluster string
	// Template is the requested template.
	Template string
	// Rendered is true when the request's exports are in the tree.
	Rendered bool
	// Exports are the rendered exports, sorted by name.
	Exports []ExportResult
}

// ExportResult names one rendered export and its schema hash.
type ExportResult struct {
	// Name is the export's (and CRD's) name, <plural>.<group>.
	Name string
	// SchemaHash is the canonical schema hash of the export.
	SchemaHash string
}

// Render renders in into a state repository tree. It never fails as a whole:
// bad objects become Problems and everything else is rendered. The tree
// always holds README.md and the marker (MarkerPath).
//
// Render keeps nothing between calls; a caller that renders again and again
// (the backend, on every reconcile) renders through a Cache instead, which
// gives the same bytes faster.
func Render(in Input) Output {
	c := NewCache()
	c.gen++
	return render(in, c)
}

func render(in Input, cache *Cache) Output {
	r := newRenderer(in, cache)
	r.resolve()
	out := Output{Tree: make(staterepo.Tree, max(cache.treeSize, 2))}
	out.Tree[staterepo.ReadmePath], out.Tree[staterepo.MarkerPath] = staterepo.Readme(), staterepo.Marker()
	for _, c := range r.clusters {
		r.renderCluster(out.Tree, c)
	}
	out.Problems, out.Warnings = r.problems.sorted(), r.warnings.sorted()
	out.Problems = withClusters(in, out.Problems)
	out.Requests = r.results
	return out
}
