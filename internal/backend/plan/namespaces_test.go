package plan_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

func apiNamespace(cluster, name string) v1alpha1.APIServiceNamespace {
	return v1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v1alpha1.ClusterNamespace(cluster)}}
}

// changedPaths are the paths a step changed against the tree before it.
func changedPaths(before, after staterepo.Tree) []string {
	var out []string
	for p, b := range after {
		if a, ok := before[p]; !ok || string(a) != string(b) {
			out = append(out, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// TestNamespaceCommitsOnePerCause: each new APIServiceNamespace is a
// commit "namespace: C/N" of its own that changes exactly its file and its
// folder's kustomization, with the cluster and namespace trailers; a bad
// one commits nothing; a plan with nothing new commits nothing; a removed
// one leaves in a commit with the same subject.
func TestNamespaceCommitsOnePerCause(t *testing.T) {
	w := newWorld(t, v1alpha1.SchemaUpdateNonBreaking)
	w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "postgresql")}
	main := w.settled(t, nil)

	in := w.input(main)
	in.Namespaces = []v1alpha1.APIServiceNamespace{apiNamespace("c1", "shop"), apiNamespace("c1", "web"), apiNamespace("c1", "Bad")}
	p := plan.Make(in)
	require.Len(t, p.Steps, 2, subjects(p))
	prev := main
	for i, ns := range []string{"shop", "web"} {
		s := p.Steps[i]
		assert.Equal(t, "namespace: c1/"+ns, s.Message.Subject)
		assert.Equal(t, []string{"c1"}, s.Message.Values(staterepo.TrailerCluster))
		assert.Equal(t, []string{ns}, s.Message.Values(staterepo.TrailerNamespace))
		assert.Equal(t, []string{staterepo.CauseNamespace}, s.Message.Values(staterepo.TrailerCause))
		assert.Equal(t, []string{staterepo.NamespacePath("c1", ns), staterepo.NamespacesDir("c1") + "/kustomization.yaml"},
			sortedDesc(changedPaths(prev, s.Tree)), "the step changes its namespace file and the folder's kustomization only")
		prev = s.Tree
	}
	var bad *plan.NamespaceDecision
	for i, d := range p.Namespaces {
		if d.Name == "Bad" {
			bad = &p.Namespaces[i]
		} else {
			assert.True(t, d.Rendered, d.Name)
			assert.Equal(t, render.InstanceNamespace("c1", d.Name), d.Instance)
		}
	}
	require.NotNil(t, bad)
	require.NotNil(t, bad.Problem)
	assert.Equal(t, v1alpha1.InvalidNamespaceReason, bad.Problem.Reason)
	assert.False(t, bad.Rendered)

	in = w.input(p.Main)
	in.Namespaces = []v1alpha1.APIServiceNamespace{apiNamespace("c1", "shop"), apiNamespace("c1", "web")}
	assert.Empty(t, plan.Make(in).Steps, "nothing new: no commit")

	in.Namespaces = []v1alpha1.APIServiceNamespace{apiNamespace("c1", "shop")}
	gone := plan.Make(in)
	require.Len(t, gone.Steps, 1, subjects(gone))
	assert.Equal(t, "namespace: c1/web", gone.Steps[0].Message.Subject)
	assert.Equal(t, []string{staterepo.NamespacePath("c1", "web"), staterepo.NamespacesDir("c1") + "/kustomization.yaml"},
		sortedDesc(changedPaths(p.Main, gone.Main)))

	in = w.input(gone.Main)
	last := plan.Make(in)
	require.Len(t, last.Steps, 1)
	assert.Equal(t, "namespace: c1/shop", last.Steps[0].Message.Subject)
	for path := range last.Main {
		assert.False(t, strings.Contains(path, "/namespaces/"), "the last namespace takes its folder with it: %s", path)
	}
}

func sortedDesc(s []string) []string {
	sort.Sort(sort.Reverse(sort.StringSlice(s)))
	return s
}
