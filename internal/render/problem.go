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
