package render

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

func (r *renderer) indexClusters() {
	clusters := unique(r, kindCluster, r.in.Clusters, func(c *v1alpha1.AppCluster) (string, string) { return "", c.Name })
	for _, c := range clusters {
		if msg := ValidateClusterName(c.Name); msg != "" {
			r.invalid[c.Name] = true
			r.problems.add(kindCluster, "", c.Name, v1alpha1.InvalidClusterNameReason, msg)
			continue
		}
		e := &clusterEntry{name: c.Name}
		r.byName[c.Name] = e
		r.clusters = append(r.clusters, e)
	}
	for _, rv := range r.in.Revoked {
		if e := r.byName[rv.Cluster]; e != nil && len(validation.IsDNS1123Subdomain(rv.Template)) == 0 && !slices.Contains(e.revoked, rv.Template) {
			e.revoked = append(e.revoked, rv.Template)
		}
	}
	for _, e := range r.clusters {
		slices.Sort(e.revoked)
	}
}

// ValidateClusterName returns why name cannot name an app cluster, or "" when
// it can: it must be a DNS-1123 label short enough that bindsync-<name> is one
// too, which also keeps it a safe folder name.
func ValidateClusterName(name string) string {
	if isShortDNSLabel(name) {
		return ""
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Sprintf("name %q is not a DNS-1123 label: %s", name, strings.Join(errs, "; "))
	}
	if len(name) > v1alpha1.MaxClusterNameLength {
		return fmt.Sprintf("name %q is longer than %d characters, so namespace %s%s would be invalid",
			name, v1alpha1.MaxClusterNameLength, v1alpha1.ClusterNamespacePrefix, name)
	}
	return ""
}

// isShortDNSLabel is the quick yes of ValidateClusterName: name is a
// DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?) of at most
// MaxClusterNameLength characters. Names it refuses get the full check and
// its message.
func isShortDNSLabel(name string) bool {
	if name == "" || len(name) > v1alpha1.MaxClusterNameLength || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}
