package backend

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// The backend plans each reconcile incrementally: its render.Cache renders
// only the clusters whose objects changed, and its plan.Memo keeps main's
// index and render from the reconcile before, so an unchanged cluster is
// neither rendered, compared nor indexed again. This test walks one
// repository through a sequence of reconciles, each on the main the one
// before pushed, and plans every one of them twice: as the backend does
// (one Reconciler, its cache and memo kept throughout) and from scratch
// (no cache, no memo, main read from git by a repository opened afresh).
// Both plans must be the same, tree for tree and message for message, and
// the backend's commits must be those of the cold plan's trees committed
// whole. A fingerprint that misses an input shows here as a stale tree.
func TestBackendIncrementalPlansAreColdPlans(t *testing.T) {
	const clusters, bindings = 10, 3
	s := newBenchState(t, clusters, bindings)
	tpl := func(in *plan.Input, i int) *v1alpha1.APIServiceExportTemplate {
		in.Templates = append([]v1alpha1.APIServiceExportTemplate(nil), in.Templates...)
		c := in.Templates[i].DeepCopy()
		in.Templates[i] = *c
		return &in.Templates[i]
	}
	var broken []byte      // an export file another writer broke, and restores
	var lastPlan plan.Plan // the cold plan of the step before
	steps := []struct {
		name   string
		change func(in *plan.Input)
		// writer, when set, is another writer's commit on main before the
		// reconcile, made from main's tree.
		writer func(main staterepo.Tree) staterepo.Tree
	}{
		{name: "nothing new", change: func(*plan.Input) {}},
		{name: "bind: a new request", change: func(in *plan.Input) { addRequest(in, "cluster-0003", in.Templates[bindings].Name) }},
		{name: "nothing new after the bind", change: func(*plan.Input) {}},
		{name: "unbind: a request deleted", change: func(in *plan.Input) { removeRequest(in, "cluster-0005", in.Templates[0].Name) }},
		{name: "a compatible schema change", change: func(in *plan.Input) { in.CRDs = withOptionalField(in.CRDs, 0) }},
		{name: "nothing new after the schema change", change: func(*plan.Input) {}},
		{name: "a breaking schema change: held on a branch", change: func(in *plan.Input) { in.CRDs = withoutAField(in.CRDs, 1) }},
		{name: "a bind while the change is held", change: func(in *plan.Input) { addRequest(in, "cluster-0006", in.Templates[bindings].Name) }},
		{name: "the breaking change reverted", change: func(in *plan.Input) { in.CRDs = append([]apiextensionsv1.CustomResourceDefinition(nil), s.in.CRDs...) }},
		{name: "a template change: its claims", change: func(in *plan.Input) {
			t := tpl(in, 1)
			t.Spec.PermissionClaims[0].Verbs = append(t.Spec.PermissionClaims[0].Verbs, "create")
		}},
		{name: "a new AppCluster with two requests", change: func(in *plan.Input) {
			in.Clusters = append(in.Clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "cluster-new"}})
			addRequest(in, "cluster-new", in.Templates[0].Name)
			addRequest(in, "cluster-new", in.Templates[2].Name)
		}},
		{name: "an AppCluster deleted with its requests left: kept as it was", change: func(in *plan.Input) {
			in.Clusters = append([]v1alpha1.AppCluster(nil), in.Clusters[1:]...)
		}},
		{name: "the AppCluster back", change: func(in *plan.Input) {
			in.Clusters = append(in.Clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "cluster-0000"}})
		}},
		{name: "a request for a Manual template: pending", change: func(in *plan.Input) {
			tpl(in, bindings).Spec.Approval = v1alpha1.ApprovalManual
			addRequest(in, "cluster-0008", in.Templates[bindings].Name)
		}},
		{name: "a second pending request", change: func(in *plan.Input) { addRequest(in, "cluster-0009", in.Templates[bindings].Name) }},
		{name: "nothing new while two requests are pending", change: func(*plan.Input) {}},
		{name: "the Manual template's claim changed while pending", change: func(in *plan.Input) {
			t := tpl(in, bindings)
			t.Spec.PermissionClaims[0].Verbs = append(t.Spec.PermissionClaims[0].Verbs, "create")
		}},
		{name: "a request for a second Manual template that nothing on main binds", change: func(in *plan.Input) {
			tpl(in, bindings+1).Spec.Approval = v1alpha1.ApprovalManual
			addRequest(in, "cluster-0005", in.Templates[bindings+1].Name)
		}},
		{name: "that template's claim changed while pending: main does not move", change: func(in *plan.Input) {
			t := tpl(in, bindings+1)
			t.Spec.PermissionClaims[0].Verbs = append(t.Spec.PermissionClaims[0].Verbs, "delete")
		}},
		{name: "a template bound in a pending request's cluster made invalid: the cluster is held back", change: func(in *plan.Input) {
			tpl(in, 2).Spec.Resources = nil
		}},
		{name: "another writer edits a file the held-back cluster keeps", change: func(*plan.Input) {},
			writer: func(main staterepo.Tree) staterepo.Tree {
				tree := copyTree(main)
				p := staterepo.ExportPath("cluster-0009", s.in.CRDs[2].Name)
				require.Contains(t, tree, p)
				tree[p] = append(append([]byte(nil), main[p]...), "# kept by hand\n"...)
				return tree
			}},
		{name: "the template valid again while pending", change: func(in *plan.Input) {
			tpl(in, 2).Spec.Resources = append([]v1alpha1.GroupResource(nil), s.in.Templates[2].Spec.Resources...)
		}},
		{name: "main moves in a pending request's cluster: an unbind there", change: func(in *plan.Input) {
			removeRequest(in, "cluster-0008", in.Templates[0].Name)
		}},
		{name: "main moves in another cluster: an unbind there", change: func(in *plan.Input) {
			removeRequest(in, "cluster-0001", in.Templates[1].Name)
		}},
		{name: "nothing new after main moved", change: func(*plan.Input) {}},
		{name: "a pending request deleted and created again: a new UID", change: func(in *plan.Input) {
			for i := range in.Requests {
				if q := &in.Requests[i]; q.Namespace == v1alpha1.ClusterNamespace("cluster-0009") && q.Spec.TemplateRef.Name == in.Templates[bindings].Name {
					q.UID = "uid-again-0009"
				}
			}
		}},
		{name: "a pending request's CRD changes compatibly", change: func(in *plan.Input) { in.CRDs = withOptionalField(in.CRDs, bindings) }},
		{name: "an approval merged into main", change: func(*plan.Input) {},
			writer: func(main staterepo.Tree) staterepo.Tree {
				for _, b := range lastPlan.Branches {
					if b.Name == staterepo.ApproveBranch("cluster-0008", s.in.Templates[bindings].Name) {
						return b.TreeOn(main)
					}
				}
				t.Fatalf("no approval branch for cluster-0008 in %v", lastPlan.Branches)
				return nil
			}},
		{name: "nothing new after the merge, one request pending", change: func(*plan.Input) {}},
		{name: "a pending request's branch deleted: rejected", change: func(in *plan.Input) {
			for i := range in.Requests {
				if q := &in.Requests[i]; q.Namespace == v1alpha1.ClusterNamespace("cluster-0009") && q.Spec.TemplateRef.Name == in.Templates[bindings].Name {
					q.Status.Revision = staterepo.ApproveBranch("cluster-0009", q.Name) + "@sha1:0123456789abcdef0123456789abcdef01234567"
					q.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ApprovedCondition, Status: metav1.ConditionFalse,
						Reason: v1alpha1.PendingApprovalReason}}
				}
			}
		}},
		{name: "a new pending request after the rejection", change: func(in *plan.Input) { addRequest(in, "cluster-0002", in.Templates[bindings].Name) }},
		{name: "the approval flips to Automatic: both bind", change: func(in *plan.Input) {
			tpl(in, bindings).Spec.Approval = v1alpha1.ApprovalAutomatic
		}},
		{name: "another writer adds a file and breaks a cluster's file", change: func(*plan.Input) {},
			writer: func(main staterepo.Tree) staterepo.Tree {
				tree := copyTree(main)
				tree["CODEOWNERS"] = []byte("* @platform\n")
				tree["clusters/cluster-0002/control-plane/rbac.yaml"] = []byte("# edited by hand\n")
				return tree
			}},
		{name: "a bind after the other writer", change: func(in *plan.Input) { addRequest(in, "cluster-0004", in.Templates[bindings].Name) }},
		{name: "another writer removes a cluster folder", change: func(*plan.Input) {},
			writer: func(main staterepo.Tree) staterepo.Tree {
				tree := copyTree(main)
				for p := range tree {
					if len(p) > len("clusters/cluster-0007/") && p[:len("clusters/cluster-0007/")] == "clusters/cluster-0007/" {
						delete(tree, p)
					}
				}
				return tree
			}},
		{name: "a request's template made invalid: its clusters kept", change: func(in *plan.Input) {
			tpl(in, 2).Spec.Resources = nil
		}},
		{name: "the template valid again", change: func(in *plan.Input) {
			tpl(in, 2).Spec.Resources = append([]v1alpha1.GroupResource(nil), s.in.Templates[2].Spec.Resources...)
		}},
		{name: "a second request for a bound template, and the template's claim narrowed: nothing frozen", change: func(in *plan.Input) {
			dup := benchRequest("cluster-0001", in.Templates[0].Name)
			dup.Name, dup.UID = "again", "uid-again"
			in.Requests = append(in.Requests, dup)
			tpl(in, 0).Spec.PermissionClaims[0].Verbs = []v1alpha1.Verb{"get"}
		}},
		{name: "a request for an unknown template next to good ones", change: func(in *plan.Input) {
			addRequest(in, "cluster-0002", "no-such-template")
			addRequest(in, "cluster-0002", in.Templates[bindings].Name)
		}},
		{name: "another writer leaves conflict markers in an export", change: func(*plan.Input) {},
			writer: func(main staterepo.Tree) staterepo.Tree {
				tree := copyTree(main)
				p := staterepo.ExportPath("cluster-0003", s.in.CRDs[1].Name)
				broken = main[p]
				tree[p] = append([]byte("<<<<<<< HEAD\n"), main[p]...)
				return tree
			}},
		{name: "a compatible schema change while the export is unreadable", change: func(in *plan.Input) { in.CRDs = withOptionalField(in.CRDs, 1) }},
		{name: "the export restored", change: func(*plan.Input) {},
			writer: func(main staterepo.Tree) staterepo.Tree {
				tree := copyTree(main)
				tree[staterepo.ExportPath("cluster-0003", s.in.CRDs[1].Name)] = broken
				return tree
			}},
		{name: "another writer reverts a bind: the revocation is recorded", change: func(*plan.Input) {},
			writer: func(main staterepo.Tree) staterepo.Tree {
				tree := copyTree(main)
				delete(tree, staterepo.ExportPath("cluster-0003", s.in.CRDs[bindings].Name))
				delete(tree, staterepo.CRDPath("cluster-0003", s.in.CRDs[bindings].Name))
				return tree
			}},
		{name: "nothing new after the revocation", change: func(*plan.Input) {}},
		{name: "the revocation lifted: bound again", change: func(*plan.Input) {},
			writer: func(main staterepo.Tree) staterepo.Tree {
				tree := copyTree(main)
				delete(tree, staterepo.RevokedPath("cluster-0003", s.in.Templates[bindings].Name))
				return tree
			}},
		{name: "nothing new at the end", change: func(*plan.Input) {}},
	}
	commits := 0
	for _, step := range steps {
		in := s.in
		in.Requests = append([]v1alpha1.APIServiceExportRequest(nil), in.Requests...)
		step.change(&in)
		if step.writer != nil {
			main, err := s.rc.opts.Repo.Tree(s.head)
			require.NoError(t, err)
			h := commitFull(t, s.repo, s.head, step.writer(main), staterepo.Message{Subject: "another writer"})
			require.NoError(t, s.rc.opts.Repo.Push(context.Background(), DefaultBranch, s.head, h), step.name)
			s.head = h
		}
		var err error
		in.Main, err = s.rc.opts.Repo.Tree(s.head) // as fetch reads it
		require.NoError(t, err, step.name)

		r := s.run(t, in)

		cold := in
		fresh, err := git.Open(context.Background(), git.Options{Dir: s.repo.Dir()})
		require.NoError(t, err)
		cold.Main, err = fresh.Tree(s.head)
		require.NoError(t, err)
		cold.Cache, cold.Memo, cold.Revoked, cold.Branches = nil, nil, r.in.Revoked, r.in.Branches
		want := plan.Decide(cold).Render()
		assertSamePlan(t, want, r.plan, step.name)
		if strings.HasPrefix(step.name, "another writer reverts a bind") {
			require.NotEmpty(t, want.Steps, step.name)
			assert.True(t, strings.HasPrefix(want.Steps[0].Message.Subject, "revoke: cluster-0003 <- "), want.Steps[0].Message.Subject)
		}
		if strings.HasPrefix(step.name, "the revocation lifted") {
			require.NotEmpty(t, want.Steps, step.name)
			assert.True(t, strings.HasPrefix(want.Steps[len(want.Steps)-1].Message.Subject, "bind: cluster-0003 <- "), want.Steps[len(want.Steps)-1].Message.Subject)
		}

		parent := s.head
		for _, st := range want.Steps {
			parent = commitFull(t, s.repo, parent, st.Tree, st.Message)
		}
		assert.Equal(t, parent, r.newMain, "%s: the backend's commits are the cold plan's trees committed whole", step.name)
		commits += len(want.Steps)
		require.NoError(t, s.rc.opts.Repo.Push(context.Background(), DefaultBranch, s.head, r.newMain), step.name)
		s.head, s.in = r.newMain, in
		s.in.Main = nil
		lastPlan = want
	}
	assert.Greater(t, commits, 10, "the sequence made commits")
}

// assertSamePlan compares two plans: steps, main, branches, decisions.
func assertSamePlan(t *testing.T, want, got plan.Plan, step string) {
	t.Helper()
	require.Len(t, got.Steps, len(want.Steps), "%s: steps", step)
	for i := range want.Steps {
		w, g := want.Steps[i], got.Steps[i]
		assert.Equal(t, w.Message, g.Message, "%s: step %d message", step, i)
		assert.Equal(t, w.Dirs, g.Dirs, "%s: step %d dirs", step, i)
		assertSameTree(t, w.Tree, g.Tree, fmt.Sprintf("%s: step %d tree", step, i))
		assertSameTree(t, w.Files, g.Files, fmt.Sprintf("%s: step %d files", step, i))
	}
	assertSameTree(t, want.Main, got.Main, step+": main")
	require.Len(t, got.Branches, len(want.Branches), "%s: branches", step)
	for i := range want.Branches {
		w, g := want.Branches[i], got.Branches[i]
		assert.Equal(t, w.Name, g.Name, step)
		assert.Equal(t, w.Message, g.Message, "%s: branch %s message", step, w.Name)
		assert.Equal(t, w.Dirs, g.Dirs, "%s: branch %s dirs", step, w.Name)
		assertSameTree(t, w.Tree, g.Tree, fmt.Sprintf("%s: branch %s tree", step, w.Name))
		assertSameTree(t, w.TreeOn(want.Main), g.TreeOn(got.Main), fmt.Sprintf("%s: branch %s tree on main", step, w.Name))
		assertSameTree(t, w.Files, g.Files, fmt.Sprintf("%s: branch %s files", step, w.Name))
	}
	assert.Equal(t, want.Requests, got.Requests, "%s: request decisions", step)
	assert.Equal(t, want.Schemas, got.Schemas, "%s: schema decisions", step)
	assert.Equal(t, want.Problems, got.Problems, "%s: problems", step)
	assert.Equal(t, want.Warnings, got.Warnings, "%s: warnings", step)
	assert.Equal(t, want.Errors(), got.Errors(), "%s: errors", step)
}

// assertSameTree names the first paths where two trees differ.
func assertSameTree(t *testing.T, want, got staterepo.Tree, what string) {
	t.Helper()
	if staterepo.TreesEqual(want, got) && (want == nil) == (got == nil) {
		return
	}
	var diff []string
	for p, b := range want {
		if g, ok := got[p]; !ok || string(g) != string(b) {
			diff = append(diff, p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			diff = append(diff, p+" (not wanted)")
		}
	}
	sort.Strings(diff)
	if len(diff) > 5 {
		diff = diff[:5]
	}
	assert.Fail(t, what+" differs", "nil: want %v got %v; first paths: %v", want == nil, got == nil, diff)
}

// withoutAField returns crds with the first property of spec removed in
// every version of crds[i]: a breaking change.
func withoutAField(crds []apiextensionsv1.CustomResourceDefinition, i int) []apiextensionsv1.CustomResourceDefinition {
	out := append([]apiextensionsv1.CustomResourceDefinition(nil), crds...)
	crd := out[i].DeepCopy()
	for v := range crd.Spec.Versions {
		spec := crd.Spec.Versions[v].Schema.OpenAPIV3Schema.Properties["spec"]
		var names []string
		for n := range spec.Properties {
			names = append(names, n)
		}
		sort.Strings(names)
		delete(spec.Properties, names[0])
		crd.Spec.Versions[v].Schema.OpenAPIV3Schema.Properties["spec"] = spec
	}
	bumpVersion(crd)
	out[i] = *crd
	return out
}
