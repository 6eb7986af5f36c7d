package render

import "fmt"

// Problem is one object that could not be rendered, or was rendered with a
// caveat (a Warning). It names the object and says why.
type Problem struct {
	// Kind, Namespace and Name identify the object.
	Kind      string
	Namespace string
	Name      string
	// Reason is a CamelCase constant from api/v1alpha1, e.g. TemplateNotFound.
	Reason string
	// Message says what is wrong, for a human.
	Message string
	// Clusters are the app clusters the problem holds back, sorted: those
	// whose render it may have changed (see ClustersOf). A writer that
	// keeps going despite problems keeps these clusters' last good files
	// (see KeepLastGood). Empty for warnings and for problems no cluster
	// depends on, such as a CRD no template binds.
	Clusters []string
	// Holds are the objects the problem holds back, sorted: what a writer
	// that keeps going despite problems keeps from the tree it wrote
	// before (see Keep). A problem holds back the object whose input is
	// bad, never more: a bad request or template keeps that template's
	// exports (and their share of the Role) in each cluster that asks for
	// it, a bad CRD the exports of that CRD, and only a bad AppCluster its
	// whole folder. A request that conflicts with or duplicates a bound
	// one holds nothing: it renders nothing, so it has nothing to keep.
	Holds []Hold
}

// Hold is one object a problem holds back in one cluster folder: the
// exports of Template, or of CRD, or of both when both are set; the whole
// folder when neither is.
type Hold struct {
	Cluster, Template, CRD string
}

// Whole reports whether the hold keeps the cluster's whole folder.
func (h Hold) Whole() bool { return h.Template == "" && h.CRD == "" }

// covers reports whether the hold keeps the export of crd through template.
func (h Hold) covers(template, crd string) bool {
	return (h.Template == "" || h.Template == template) && (h.CRD == "" || h.CRD == crd)
}

// Object returns "Kind namespace/name", or "Kind name" for cluster-scoped objects.
func (p Problem) Object() string {
	if p.Namespace == "" {
		return p.Kind + " " + p.Name
	}
	return p.Kind + " " + p.Namespace + "/" + p.Name
}

// String formats the problem as one line: object, reason and message.
func (p Problem) String() string {
	return fmt.Sprintf("%s: %s: %s", p.Object(), p.Reason, p.Message)
}
