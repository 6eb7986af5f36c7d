package render

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// kindNamespace is the kind named in an APIServiceNamespace's problems.
const kindNamespace = "APIServiceNamespace"

// nsKey names one APIServiceNamespace: its namespace and name.
type nsKey [2]string

// namespaceCollisions returns the APIServiceNamespaces of in that cannot
// have their control-plane namespace, with why: two (cluster, namespace)
// pairs whose InstanceNamespace is one name (a hash collision) give it to
// the oldest (then the first by namespace and name), and refuse the others;
// a name that would be a cluster's namespace (bindsync-*) is refused. Only
// APIServiceNamespaces that can otherwise be rendered (a valid name in the
// namespace of a valid AppCluster of in) take part, so the answer is the
// same whichever part of in is rendered.
func namespaceCollisions(in Input) map[nsKey]string {
	if len(in.Namespaces) == 0 {
		return nil
	}
	clusters := make(map[string]bool, len(in.Clusters))
	for i := range in.Clusters {
		if ValidateClusterName(in.Clusters[i].Name) == "" {
			clusters[in.Clusters[i].Name] = true
		}
	}
	type claim struct {
		key     nsKey
		created int64
		nanos   int
	}
	byName := map[string][]claim{}
	var out map[nsKey]string
	for i := range in.Namespaces {
		n := &in.Namespaces[i]
		cluster, ok := strings.CutPrefix(n.Namespace, v1alpha1.ClusterNamespacePrefix)
		if !ok || !clusters[cluster] || ValidateAppNamespace(n.Name) != "" {
			continue
		}
		inst := InstanceNamespace(cluster, n.Name)
		key := nsKey{n.Namespace, n.Name}
		if strings.HasPrefix(inst, v1alpha1.ClusterNamespacePrefix) {
			if out == nil {
				out = map[nsKey]string{}
			}
			out[key] = fmt.Sprintf("its control-plane namespace %s would be a cluster's namespace", inst)
			continue
		}
		cs := byName[inst]
		if slices.ContainsFunc(cs, func(c claim) bool { return c.key == key }) {
			continue // a copy of one object: unique reports it
		}
		byName[inst] = append(cs, claim{key: key, created: n.CreationTimestamp.Unix(), nanos: n.CreationTimestamp.Nanosecond()})
	}
	for inst, cs := range byName {
		if len(cs) < 2 {
			continue
		}
		slices.SortFunc(cs, func(a, b claim) int {
			switch {
			case a.created != b.created:
				return cmpInt(a.created, b.created)
			case a.nanos != b.nanos:
				return cmpInt(int64(a.nanos), int64(b.nanos))
			case a.key[0] != b.key[0]:
				return strings.Compare(a.key[0], b.key[0])
			}
			return strings.Compare(a.key[1], b.key[1])
		})
		if out == nil {
			out = map[nsKey]string{}
		}
		winner := cs[0].key
		for _, c := range cs[1:] {
			out[c.key] = fmt.Sprintf("its control-plane namespace %s is already assigned to %s of cluster %s (the names collide); delete this object or rename the app namespace",
				inst, winner[1], strings.TrimPrefix(winner[0], v1alpha1.ClusterNamespacePrefix))
		}
	}
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ValidateAppNamespace returns why name cannot name an app namespace (and
// so an APIServiceNamespace), or "": it must be a DNS-1123 label, as every
// Kubernetes namespace name is.
func ValidateAppNamespace(name string) string {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Sprintf("name %q is not an app namespace's name (a DNS-1123 label): %s", name, strings.Join(errs, "; "))
	}
	return ""
}

// indexNamespaces gives each cluster the app namespaces it asks a
// control-plane namespace for, sorted; a bad APIServiceNamespace is a
// problem (InvalidNamespace) that renders nothing and holds nothing else
// back.
func (r *renderer) indexNamespaces() {
	nss := unique(r, kindNamespace, r.in.Namespaces, func(n *v1alpha1.APIServiceNamespace) (string, string) { return n.Namespace, n.Name })
	for _, n := range nss {
		c, msg := r.namespaceCluster(n)
		if msg != "" {
			r.problems.add(kindNamespace, n.Namespace, n.Name, v1alpha1.InvalidNamespaceReason, msg)
			continue
		}
		c.namespaces = append(c.namespaces, n.Name)
	}
}

// namespaceCluster returns the cluster an APIServiceNamespace belongs to,
// or why it cannot be rendered.
func (r *renderer) namespaceCluster(n *v1alpha1.APIServiceNamespace) (*clusterEntry, string) {
	name, ok := strings.CutPrefix(n.Namespace, v1alpha1.ClusterNamespacePrefix)
	switch {
	case !ok || name == "":
		return nil, fmt.Sprintf("namespace %q is not an app cluster namespace (%s<cluster>)", n.Namespace, v1alpha1.ClusterNamespacePrefix)
	case r.invalid[name]:
		return nil, fmt.Sprintf("AppCluster %q is invalid, see its problem", name)
	}
	c := r.byName[name]
	if c == nil {
		return nil, fmt.Sprintf("no AppCluster %q for namespace %s", name, n.Namespace)
	}
	if m := ValidateAppNamespace(n.Name); m != "" {
		return nil, m
	}
	if m := r.collide[nsKey{n.Namespace, n.Name}]; m != "" {
		return nil, m
	}
	return c, ""
}

// namespaceFile is NamespacePath(cluster, ns): the instance namespace, the
// Role bindsync-agent in it granting the cluster's bound namespaced
// resources and claimed objects (rules, instanceRulesYAML: the same for
// every namespace of the cluster), and the RoleBinding of that Role to the
// cluster's agent. The managed and cluster labels come from the folder's
// kustomization. A Role rather than one ClusterRole per cluster: RBAC can
// name bindsync-agent, so the backend's right to write and bind it
// (escalate, bind) stays bound to that one name.
func namespaceFile(cluster, ns string, rules []byte) []byte {
	inst := InstanceNamespace(cluster, ns)
	b := mustMarshalPlain(namespaceDoc{
		APIVersion: "v1", Kind: "Namespace", Metadata: namespaceMeta{
			Labels: map[string]string{podSecurityEnforceLabel: "restricted", v1alpha1.ConsumerNamespaceLabel: ns},
			Name:   inst,
		},
	})
	meta := namespacedMeta{Name: v1alpha1.AgentServiceAccount, Namespace: inst}
	b = append(b, "---\n"...)
	b = append(b, mustMarshalPlain(instanceRoleDoc{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role", Metadata: meta})...)
	b = append(b, rules...)
	b = append(b, "---\n"...)
	return append(b, mustMarshalPlain(instanceBindingDoc{
		APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding",
		Metadata: meta,
		RoleRef:  roleRefDoc{APIGroup: rbacv1.GroupName, Kind: "Role", Name: v1alpha1.AgentServiceAccount},
		Subjects: []subjectDoc{{Kind: rbacv1.ServiceAccountKind, Name: v1alpha1.AgentServiceAccount, Namespace: v1alpha1.ClusterNamespace(cluster)}},
	})...)
}

// instanceRoleDoc is an instance namespace's Role without its rules, which
// follow it (namespaceFile).
type instanceRoleDoc struct {
	APIVersion string         `yaml:"apiVersion"`
	Kind       string         `yaml:"kind"`
	Metadata   namespacedMeta `yaml:"metadata"`
}

type namespacedMeta struct {
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace"`
}

type instanceBindingDoc struct {
	APIVersion string         `yaml:"apiVersion"`
	Kind       string         `yaml:"kind"`
	Metadata   namespacedMeta `yaml:"metadata"`
	RoleRef    roleRefDoc     `yaml:"roleRef"`
	Subjects   []subjectDoc   `yaml:"subjects"`
}

// namespaceFiles returns the paths and files of a cluster's namespaces
// folder: one file per app namespace and the kustomization listing them
// (labels only: every object names its own namespace). None when the
// cluster asks for no namespace. The Roles' rules are serialised once per
// binding set (roleYAML), so a cluster's files repeat them as bytes only.
func (r *renderer) namespaceFiles(c *clusterEntry) ([]string, [][]byte) {
	cluster, namespaces := c.name, c.namespaces
	if len(namespaces) == 0 {
		return nil, nil
	}
	_, _, rules := r.roleYAML(c)
	dir := staterepo.NamespacesDir(cluster)
	paths := make([]string, 0, len(namespaces)+1)
	files := make([][]byte, 0, len(namespaces)+1)
	resources := make([]string, len(namespaces))
	for i, ns := range namespaces {
		resources[i] = ns + ".yaml"
		paths = append(paths, dir+"/"+ns+".yaml")
		files = append(files, namespaceFile(cluster, ns, rules))
	}
	paths = append(paths, dir+"/"+staterepo.KustomizationFile)
	files = append(files, kustomization(cluster, "", resources))
	return paths, files
}
