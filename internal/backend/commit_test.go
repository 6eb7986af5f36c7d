package backend

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// The commit phase commits only the cluster folders each step changed
// (plan.Step.Dirs, git.Repo.CommitDirs). These tests prove that what it
// writes is, commit for commit, what a full Commit of each step's whole
// tree writes: the same root tree hash (and, with the clock pinned, the
// same commit), for every kind of change. They run on a real repository.
func TestBackendCommitsAreTheFullTreeCommit(t *testing.T) {
	const clusters, bindings = 12, 3
	for _, tc := range []struct {
		name   string
		change func(in *plan.Input)
		// dirs are the Dirs of the first step (nil: the whole tree).
		dirs     []string
		branches int
	}{
		{name: "a new request binds one cluster: its folder only", dirs: []string{"clusters/cluster-0003"},
			change: func(in *plan.Input) { addRequest(in, "cluster-0003", in.Templates[bindings].Name) }},
		{name: "a deleted request unbinds one cluster: its folder only", dirs: []string{"clusters/cluster-0005"},
			change: func(in *plan.Input) { removeRequest(in, "cluster-0005", in.Templates[0].Name) }},
		{name: "a new cluster with a request: a new folder", dirs: []string{"clusters/cluster-new"},
			change: func(in *plan.Input) {
				in.Clusters = append(in.Clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "cluster-new"}})
				addRequest(in, "cluster-new", in.Templates[0].Name)
			}},
		{name: "every request of a cluster deleted: its folder removed", dirs: []string{"clusters/cluster-0007"},
			change: func(in *plan.Input) {
				for _, tpl := range in.Templates[:bindings] {
					removeRequest(in, "cluster-0007", tpl.Name)
				}
			}},
		{name: "a compatible schema change: every cluster bound to the CRD", dirs: allClusters(clusters),
			change: func(in *plan.Input) { in.CRDs = withOptionalField(in.CRDs, 0) }},
		{name: "a template change: every cluster bound to the template", dirs: allClusters(clusters),
			change: func(in *plan.Input) {
				in.Templates = append([]v1alpha1.APIServiceExportTemplate(nil), in.Templates...)
				tpl := in.Templates[1].DeepCopy()
				tpl.Spec.PermissionClaims[0].Verbs = append(tpl.Spec.PermissionClaims[0].Verbs, "create")
				in.Templates[1] = *tpl
			}},
		{name: "a file outside every cluster folder: the whole tree", dirs: nil,
			change: func(in *plan.Input) {
				in.Main = copyTree(in.Main)
				delete(in.Main, staterepo.ReadmePath) // someone deleted the README; render writes it back
			}},
		{name: "mixed: unbind, template and schema change, a new cluster and two binds", dirs: append(allClusters(clusters), "clusters/cluster-new"),
			change: func(in *plan.Input) {
				removeRequest(in, "cluster-0001", in.Templates[0].Name)
				in.Templates = append([]v1alpha1.APIServiceExportTemplate(nil), in.Templates...)
				tpl := in.Templates[2].DeepCopy()
				tpl.Spec.PermissionClaims[0].Verbs = []v1alpha1.Verb{"get"}
				in.Templates[2] = *tpl
				in.CRDs = withOptionalField(in.CRDs, 1)
				in.Clusters = append(in.Clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "cluster-new"}})
				addRequest(in, "cluster-new", in.Templates[0].Name)
				addRequest(in, "cluster-0004", in.Templates[bindings].Name)
				in.Main = copyTree(in.Main)
				in.Main["CODEOWNERS"] = []byte("* @platform\n") // another writer's file: kept
			}},
		{name: "two Manual requests: main untouched, each branch is its cluster's folder", branches: 2,
			change: func(in *plan.Input) {
				in.Templates = append([]v1alpha1.APIServiceExportTemplate(nil), in.Templates...)
				in.Templates[bindings].Spec.Approval = v1alpha1.ApprovalManual
				addRequest(in, "cluster-0002", in.Templates[bindings].Name)
				addRequest(in, "cluster-0009", in.Templates[bindings].Name)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newBenchState(t, clusters, bindings)
			in := s.in
			in.Requests = append([]v1alpha1.APIServiceExportRequest(nil), in.Requests...)
			tc.change(&in)
			if _, ok := in.Main[staterepo.ReadmePath]; !ok || in.Main["CODEOWNERS"] != nil {
				// main as another writer left it
				s.head = commitFull(t, s.repo, s.head, in.Main, staterepo.Message{Subject: "another writer"})
			}

			r := s.run(t, in)

			if tc.branches == 0 {
				require.NotEmpty(t, r.plan.Steps)
				assert.Equal(t, tc.dirs, r.plan.Steps[0].Dirs)
			} else {
				assert.Empty(t, r.plan.Steps, "main untouched")
			}
			require.Len(t, r.plan.Branches, tc.branches, "branches")
			// the same steps, each committed whole
			parent := s.head
			for i, step := range r.plan.Steps {
				parent = commitFull(t, s.repo, parent, step.Tree, step.Message)
				assert.Equal(t, treeOf(t, s.repo, parent), treeOf(t, s.repo, chainAt(t, s.repo, r.newMain, len(r.plan.Steps)-1-i)),
					"step %d (%s): root tree of CommitDirs and of Commit", i, step.Message.Subject)
			}
			assert.Equal(t, parent, r.newMain, "the same commits, hash for hash")
			for _, b := range r.plan.Branches {
				if tc.branches > 0 {
					assert.Len(t, b.Dirs, 1, "a branch is one cluster's folder")
				}
				msg := b.Message
				msg.Trailers = append(append([]staterepo.Trailer(nil), msg.Trailers...), staterepo.Trailer{Key: staterepo.TrailerBase, Value: r.newMain.String()},
					staterepo.Trailer{Key: staterepo.TrailerBranch, Value: b.Name})
				full := commitFull(t, s.repo, r.newMain, b.TreeOn(r.plan.Main), msg)
				assert.Equal(t, treeOf(t, s.repo, full), treeOf(t, s.repo, r.newBranches[b.Name]), "branch %s", b.Name)
				assert.Equal(t, full, r.newBranches[b.Name], "branch %s: the same commit", b.Name)
			}
			// a repository opened afresh (nothing remembered) reads back
			// the tree the plan committed
			fresh, err := git.Open(context.Background(), git.Options{Dir: s.repo.Dir()})
			require.NoError(t, err)
			got, err := fresh.Tree(r.newMain)
			require.NoError(t, err)
			assert.True(t, staterepo.TreesEqual(r.plan.Main, got), "main's tree read back from git is the plan's")
			remembered, err := s.rc.opts.Repo.Tree(r.newMain)
			require.NoError(t, err)
			assert.True(t, staterepo.TreesEqual(got, remembered), "the adapter remembers what git holds")
		})
	}
}

// chainAt returns the commit n first parents below head.
func chainAt(t *testing.T, repo *git.Repo, head plumbing.Hash, n int) plumbing.Hash {
	t.Helper()
	for ; n > 0; n-- {
		c, err := repo.CommitInfo(head)
		require.NoError(t, err)
		head = c.Parents[0]
	}
	return head
}

func treeOf(t *testing.T, repo *git.Repo, commit plumbing.Hash) plumbing.Hash {
	t.Helper()
	c, err := repo.CommitInfo(commit)
	require.NoError(t, err)
	return c.Tree
}

// commitFull commits tree whole, as the commit phase did before it knew
// which folders changed.
func commitFull(t *testing.T, repo *git.Repo, parent plumbing.Hash, tree staterepo.Tree, msg staterepo.Message) plumbing.Hash {
	t.Helper()
	m := staterepo.Message{Subject: msg.Subject, Body: msg.Body}
	for _, tr := range msg.Trailers {
		m.Trailers = append(m.Trailers, staterepo.Trailer{Key: tr.Key, Value: tr.Value})
	}
	h, _, err := repo.Commit(parent, tree, m)
	require.NoError(t, err)
	return h
}

func addRequest(in *plan.Input, cluster, template string) {
	in.Requests = append(in.Requests, benchRequest(cluster, template))
}

func removeRequest(in *plan.Input, cluster, template string) {
	out := in.Requests[:0:0]
	for _, q := range in.Requests {
		if q.Namespace != v1alpha1.ClusterNamespace(cluster) || q.Spec.TemplateRef.Name != template {
			out = append(out, q)
		}
	}
	in.Requests = out
}

func allClusters(n int) []string {
	var out []string
	for c := range n {
		out = append(out, fmt.Sprintf("clusters/cluster-%04d", c))
	}
	return out
}

func copyTree(t staterepo.Tree) staterepo.Tree {
	out := make(staterepo.Tree, len(t))
	for p, b := range t {
		out[p] = b
	}
	return out
}

// withOptionalField returns crds with a new optional field in crds[i]'s spec.
func withOptionalField(crds []apiextensionsv1.CustomResourceDefinition, i int) []apiextensionsv1.CustomResourceDefinition {
	out := append([]apiextensionsv1.CustomResourceDefinition(nil), crds...)
	crd := out[i].DeepCopy()
	for v := range crd.Spec.Versions {
		spec := crd.Spec.Versions[v].Schema.OpenAPIV3Schema.Properties["spec"]
		spec.Properties["bindsyncTestField"] = apiextensionsv1.JSONSchemaProps{Type: "string"}
		crd.Spec.Versions[v].Schema.OpenAPIV3Schema.Properties["spec"] = spec
	}
	bumpVersion(crd)
	out[i] = *crd
	return out
}

// bumpVersion gives a changed object the next resourceVersion, as the API
// server does.
func bumpVersion(o metav1.Object) {
	n, _ := strconv.Atoi(o.GetResourceVersion())
	o.SetResourceVersion(strconv.Itoa(n + 1))
}
