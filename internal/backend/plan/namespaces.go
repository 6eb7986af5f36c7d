package plan

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// NamespaceDecision is the plan for one APIServiceNamespace.
type NamespaceDecision struct {
	Namespace, Name string
	// Cluster is the app cluster of its namespace ("" when none).
	Cluster string
	// Instance is the control-plane namespace render assigns to it.
	Instance string
	// Rendered is true when main holds its file after the plan's steps.
	Rendered bool
	// Problem is its own render problem (InvalidNamespace), if any.
	Problem *render.Problem
}

// namespaceSets splits the namespaces render reads into those main holds
// (live, and those that left the control plane but whose file main still
// holds: each leaves in a commit of its own), and those main does not hold
// yet, each added in a commit of its own. Both sorted by namespace and name.
func (p *planner) namespaceSets() (inMain, gone, added []v1alpha1.APIServiceNamespace) {
	clusters := map[string]bool{}
	for _, c := range p.in.Clusters {
		clusters[c.Name] = true
	}
	live := map[[2]string]bool{}
	for _, n := range p.in.Namespaces {
		live[[2]string{n.Namespace, n.Name}] = true
		if _, ok := p.mainT.tree[staterepo.NamespacePath(clusterOf(n.Namespace), n.Name)]; ok && clusterOf(n.Namespace) != "" {
			inMain = append(inMain, n)
		} else {
			added = append(added, n)
		}
	}
	for path := range p.mainT.tree {
		c, ns, ok := namespaceOfPath(path)
		if !ok || !clusters[c] || live[[2]string{v1alpha1.ClusterNamespace(c), ns}] {
			continue
		}
		gone = append(gone, v1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Namespace: v1alpha1.ClusterNamespace(c)}})
	}
	for _, l := range [][]v1alpha1.APIServiceNamespace{inMain, gone, added} {
		slices.SortFunc(l, func(a, b v1alpha1.APIServiceNamespace) int {
			if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
				return c
			}
			return strings.Compare(a.Name, b.Name)
		})
	}
	return inMain, gone, added
}

// namespaceOfPath recognises staterepo.NamespacePath(cluster, ns).
func namespaceOfPath(p string) (cluster, ns string, ok bool) {
	rest, ok := strings.CutPrefix(p, staterepo.ClustersDir+"/")
	if !ok {
		return "", "", false
	}
	cluster, rest, ok = strings.Cut(rest, "/namespaces/")
	if !ok || cluster == "" || strings.Contains(cluster, "/") {
		return "", "", false
	}
	ns, ok = strings.CutSuffix(rest, ".yaml")
	if !ok || ns == "" || strings.Contains(ns, "/") || rest == staterepo.KustomizationFile {
		return "", "", false
	}
	return cluster, ns, true
}

// namespaceMessage describes one namespace commit.
func namespaceMessage(n v1alpha1.APIServiceNamespace, removed bool) staterepo.Message {
	c := clusterOf(n.Namespace)
	m := staterepo.Message{Subject: fmt.Sprintf("namespace: %s/%s", c, n.Name)}
	inst := render.InstanceNamespace(c, n.Name)
	if removed {
		m.Body = fmt.Sprintf("App namespace %s of cluster %s no longer asks for a control-plane namespace: %s leaves the\n"+
			"repository with the agent's Role and RoleBinding there. The namespace itself is deleted only once it holds no synced object.", n.Name, c, inst)
	} else {
		m.Body = fmt.Sprintf("App namespace %s of cluster %s gets control-plane namespace %s, where the cluster's agent keeps\n"+
			"the provider copies of its instances (Role %s there: the cluster's bound resources and claims).", n.Name, c, inst, v1alpha1.AgentServiceAccount)
	}
	m.Trailers = []staterepo.Trailer{{Key: staterepo.TrailerCluster, Value: c}, {Key: staterepo.TrailerNamespace, Value: n.Name}, {Key: staterepo.TrailerCause, Value: staterepo.CauseNamespace}}
	return m
}

// batchNamespaceMessage describes one commit adding many namespaces.
func batchNamespaceMessage(added []v1alpha1.APIServiceNamespace) staterepo.Message {
	clusters := map[string]bool{}
	var body strings.Builder
	m := staterepo.Message{}
	for _, n := range added {
		c := clusterOf(n.Namespace)
		clusters[c] = true
		fmt.Fprintf(&body, "%s/%s\n", c, n.Name)
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCluster, Value: c}, staterepo.Trailer{Key: staterepo.TrailerNamespace, Value: n.Name})
	}
	m.Subject = fmt.Sprintf("namespace: %d namespaces in %d clusters", len(added), len(clusters))
	m.Body = strings.TrimSuffix(body.String(), "\n")
	m.Trailers = append(m.Trailers, staterepo.Trailer{Key: staterepo.TrailerCause, Value: staterepo.CauseNamespace})
	return m
}

// decideNamespaces judges every live APIServiceNamespace by the final
// render and main's tree after the plan's steps.
func (p *planner) decideNamespaces(out render.Output, main staterepo.Tree) {
	problems := map[[2]string]*render.Problem{}
	for i, pr := range out.Problems {
		if pr.Kind == "APIServiceNamespace" {
			problems[[2]string{pr.Namespace, pr.Name}] = &out.Problems[i]
		}
	}
	for _, n := range p.in.Namespaces {
		d := NamespaceDecision{Namespace: n.Namespace, Name: n.Name, Cluster: clusterOf(n.Namespace),
			Problem: problems[[2]string{n.Namespace, n.Name}]}
		if d.Cluster != "" {
			d.Instance = render.InstanceNamespace(d.Cluster, n.Name)
			_, d.Rendered = main[staterepo.NamespacePath(d.Cluster, n.Name)]
		}
		p.out.Namespaces = append(p.out.Namespaces, d)
	}
}
