package staterepo

import "strings"

// Branch name prefixes. bindsync writes its branches under BranchPrefix,
// but a branch there is bindsync's only when the backend wrote its head
// (see TrailerBranch): others are left alone.
const (
	BranchPrefix        = "bindsync/"
	ApproveBranchPrefix = BranchPrefix + "approve/"
	SchemaBranchPrefix  = BranchPrefix + "schema/"
)

// ApproveBranch is the approval branch of a Manual request:
// bindsync/approve/<cluster>/<request>, a valid git ref for every
// Kubernetes name (see refComponent), and a different one for each request.
func ApproveBranch(cluster, request string) string {
	return ApproveBranchPrefix + refComponent(cluster) + "/" + refComponent(request)
}

// SchemaBranch is the branch that holds a breaking change of a CRD:
// bindsync/schema/<crd>/<first SchemaDigits of hash>.
func SchemaBranch(crd, hash string) string {
	if hash == "" {
		hash = "none"
	}
	return SchemaBranchPrefix + refComponent(crd) + "/" + ShortHash(hash, SchemaDigits)
}

// refComponent makes a Kubernetes name (a DNS-1123 subdomain: lowercase
// letters, digits, '-' and '.', starting and ending with a letter or digit,
// never "..") one component of a git ref. The only such name git refuses is
// one ending in ".lock" (x.lock, widgets.example.lock): it gets an '_'
// appended. No Kubernetes name holds an '_', so the mapping stays one to
// one, and every other name is its own component, as it always was.
func refComponent(name string) string {
	if strings.HasSuffix(name, ".lock") {
		return name + "_"
	}
	return name
}
