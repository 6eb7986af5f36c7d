package render_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// lastGoodBase is two-clusters-shared-template plus a cluster c3 that binds
// only messaging: c1 binds postgresql; c2 postgresql and messaging.
func lastGoodBase(t *testing.T) render.Input {
	in := loadCase(t, "two-clusters-shared-template")
	addRequest(&in, "c3", "messaging", "messaging")
	return in
}

func addCluster(in *render.Input, name string) {
	in.Clusters = append(in.Clusters, v1alpha1.AppCluster{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "AppCluster"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	})
}

func addRequest(in *render.Input, cluster, name, template string) {
	if !hasCluster(*in, cluster) {
		addCluster(in, cluster)
	}
	in.Requests = append(in.Requests, v1alpha1.APIServiceExportRequest{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "APIServiceExportRequest"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v1alpha1.ClusterNamespace(cluster)},
		Spec:       v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: template}},
	})
}

func hasCluster(in render.Input, name string) bool {
	for _, c := range in.Clusters {
		if c.Name == name {
			return true
		}
	}
	return false
}

func removeRequest(in *render.Input, namespace, name string) {
	var keep []v1alpha1.APIServiceExportRequest
	for _, q := range in.Requests {
		if q.Namespace != namespace || q.Name != name {
			keep = append(keep, q)
		}
	}
	in.Requests = keep
}

// copyInput deep-copies in, so a case's edits never leak into another.
func copyInput(in render.Input) render.Input {
	var out render.Input
	for _, c := range in.CRDs {
		out.CRDs = append(out.CRDs, *c.DeepCopy())
	}
	for _, t := range in.Templates {
		out.Templates = append(out.Templates, *t.DeepCopy())
	}
	for _, c := range in.Clusters {
		out.Clusters = append(out.Clusters, *c.DeepCopy())
	}
	for _, q := range in.Requests {
		out.Requests = append(out.Requests, *q.DeepCopy())
	}
	for _, n := range in.Namespaces {
		out.Namespaces = append(out.Namespaces, *n.DeepCopy())
	}
	out.Revoked = slices.Clone(in.Revoked)
	return out
}

// subtree returns the files of one cluster's folder, as strings for readable diffs.
func subtree(t staterepo.Tree, cluster string) map[string]string {
	out := map[string]string{}
	for p, b := range t {
		if strings.HasPrefix(p, staterepo.ClusterDir(cluster)+"/") {
			out[p] = string(b)
		}
	}
	return out
}

func TestABadObjectKeepsTheLastGoodFilesOfEveryClusterItAffects(t *testing.T) {
	base := lastGoodBase(t)
	first := render.Render(base)
	require.Empty(t, first.Problems)
	last := first.Tree
	require.NotEmpty(t, subtree(last, "c1"))
	require.NotEmpty(t, subtree(last, "c3"))

	for _, tc := range []struct {
		name string
		edit func(in *render.Input)
		// held are the clusters that must keep their last files.
		held []string
		// moves is an unaffected cluster whose files the same edit changes:
		// it must get its new files.
		moves string
	}{{
		name: "a duplicate AppCluster holds back only that cluster",
		edit: func(in *render.Input) {
			require.Equal(t, "c1", in.Clusters[0].Name)
			dup := *in.Clusters[0].DeepCopy()
			dup.Spec.DisplayName = "another c1"
			in.Clusters = append(in.Clusters, dup)
			removeRequest(in, "bindsync-c2", "messaging")
		},
		held:  []string{"c1"},
		moves: "c2",
	}, {
		name: "a typo in a template holds back every cluster that requests it",
		edit: func(in *render.Input) {
			templateNamed(t, in, "postgresql").Spec.Resources[0].Resource = "postgresqlinstnces"
			addRequest(in, "c4", "messaging", "messaging")
		},
		held:  []string{"c1", "c2"},
		moves: "c4",
	}, {
		name: "an invalid CRD holds back the clusters of every template that binds it",
		edit: func(in *render.Input) {
			crd := crdNamed(t, in, "messaginginstances.anynines.com")
			for i := range crd.Spec.Versions {
				crd.Spec.Versions[i].Storage = false
			}
			addRequest(in, "c4", "postgresql", "postgresql")
		},
		held:  []string{"c2", "c3"},
		moves: "c4",
	}, {
		name: "a request for a missing template holds back its own cluster",
		edit: func(in *render.Input) {
			addRequest(in, "c3", "mongodb", "no-such-template")
			removeRequest(in, "bindsync-c2", "messaging")
		},
		held:  []string{"c3"},
		moves: "c2",
	}, {
		name: "a conflicting request holds back its own cluster",
		edit: func(in *render.Input) {
			addRequest(in, "c1", "postgresql-again", "postgresql")
			in.Requests[len(in.Requests)-1].CreationTimestamp = metav1.Unix(1, 0)
			addRequest(in, "c4", "messaging", "messaging")
		},
		held:  []string{"c1"},
		moves: "c4",
	}, {
		name: "a request for a missing cluster holds back that cluster's folder",
		edit: func(in *render.Input) {
			var keep []v1alpha1.AppCluster
			for _, c := range in.Clusters {
				if c.Name != "c3" {
					keep = append(keep, c)
				}
			}
			in.Clusters = keep // c3's request stays: deleting a cluster deletes its requests too
			removeRequest(in, "bindsync-c2", "messaging")
		},
		held:  []string{"c3"},
		moves: "c2",
	}, {
		name: "an invalid CRD no template binds holds back nothing",
		edit: func(in *render.Input) {
			crd := *crdNamed(t, in, "messaginginstances.anynines.com").DeepCopy()
			crd.Name, crd.Spec.Names.Plural = "unused_things.anynines.com", "unused_things"
			in.CRDs = append(in.CRDs, crd)
			removeRequest(in, "bindsync-c2", "messaging")
		},
		moves: "c2",
	}, {
		name: "an AppCluster with an invalid name has no folder to keep",
		edit: func(in *render.Input) {
			addRequest(in, "A_B", "messaging", "messaging")
			addRequest(in, "c4", "messaging", "messaging")
		},
		moves: "c4",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			in := copyInput(base)
			tc.edit(&in)
			out := render.Render(in)
			require.NotEmpty(t, out.Problems, "the edit must be a problem")
			assert.Equal(t, tc.held, out.HeldClusters())

			kept := render.KeepLastGood(out, last)

			all := map[string]bool{}
			for _, c := range append(render.TreeClusters(last), render.TreeClusters(out.Tree)...) {
				all[c] = true
			}
			for c := range all {
				if slices.Contains(tc.held, c) {
					assert.Equal(t, subtree(last, c), subtree(kept, c), "held-back cluster %s keeps exactly its last files", c)
				} else {
					assert.Equal(t, subtree(out.Tree, c), subtree(kept, c), "unaffected cluster %s gets its new render", c)
				}
			}
			require.NotEqual(t, subtree(last, tc.moves), subtree(out.Tree, tc.moves), "the edit changes %s", tc.moves)
			assert.Equal(t, subtree(out.Tree, tc.moves), subtree(kept, tc.moves), "%s moves on despite the problem", tc.moves)
			for _, p := range []string{staterepo.ReadmePath, staterepo.MarkerPath} {
				assert.Equal(t, out.Tree[p], kept[p], "%s comes from the new render", p)
			}
			for _, p := range out.Problems {
				assert.Equal(t, render.ClustersOf(in, p.Kind, p.Namespace, p.Name), p.Clusters, "%s", p)
			}
		})
	}
}

func TestWithoutProblemsKeepLastGoodIsTheRender(t *testing.T) {
	out := render.Render(lastGoodBase(t))
	require.Empty(t, out.Problems)
	assert.Equal(t, out.Tree, render.KeepLastGood(out, staterepo.Tree{"clusters/c1/app/kustomization.yaml": []byte("old")}))
}

func TestKeepClusters(t *testing.T) {
	tree := staterepo.Tree{
		staterepo.MarkerPath:                   []byte("marker"),
		"README.md":                            []byte("new readme"),
		"clusters/c1/app/kustomization.yaml":   []byte("c1 new"),
		"clusters/c10/app/kustomization.yaml":  []byte("c10 new"),
		"clusters/c2/app/kustomization.yaml":   []byte("c2 new"),
		"clusters/c2/app/crds/new.yaml":        []byte("c2 new crd"),
		"clusters/new/app/kustomization.yaml":  []byte("new"),
		"clusters/gone/app/kustomization.yaml": []byte("gone new"),
	}
	last := staterepo.Tree{
		"README.md":                          []byte("old readme"),
		"clusters/c1/app/kustomization.yaml": []byte("c1 old"),
		"clusters/c2/app/kustomization.yaml": []byte("c2 old"),
		"clusters/c2/app/crds/old.yaml":      []byte("c2 old crd"),
		"clusters/c3/app/kustomization.yaml": []byte("c3 old"),
	}
	got := render.KeepClusters(tree, last, []string{"c2", "c3", "gone"})
	assert.Equal(t, staterepo.Tree{
		staterepo.MarkerPath:                  []byte("marker"),
		"README.md":                           []byte("new readme"),
		"clusters/c1/app/kustomization.yaml":  []byte("c1 new"),
		"clusters/c10/app/kustomization.yaml": []byte("c10 new"),
		"clusters/c2/app/kustomization.yaml":  []byte("c2 old"),
		"clusters/c2/app/crds/old.yaml":       []byte("c2 old crd"),
		"clusters/c3/app/kustomization.yaml":  []byte("c3 old"),
		"clusters/new/app/kustomization.yaml": []byte("new"),
	}, got, "c2 and c3 are exactly as before, a held cluster with no last files has none, the rest is new")
	assert.Equal(t, []byte("c2 new"), tree["clusters/c2/app/kustomization.yaml"], "the render is not modified")
	assert.Equal(t, []string{"c1", "c10", "c2", "gone", "new"}, render.TreeClusters(tree))
}

func TestClustersOf(t *testing.T) {
	in := lastGoodBase(t)
	for _, tc := range []struct {
		kind, namespace, name string
		want                  []string
	}{
		{"AppCluster", "", "c2", []string{"c2"}},
		{"AppCluster", "", "never-seen", []string{"never-seen"}},
		{"AppCluster", "", "../x", nil},
		{"APIServiceExportRequest", "bindsync-c1", "anything", []string{"c1"}},
		{"APIServiceExportRequest", "default", "anything", nil},
		{"APIServiceExportTemplate", "", "postgresql", []string{"c1", "c2"}},
		{"APIServiceExportTemplate", "", "messaging", []string{"c2", "c3"}},
		{"APIServiceExportTemplate", "", "nobody-requests-it", nil},
		{"CustomResourceDefinition", "", "postgresqlinstances.anynines.com", []string{"c1", "c2"}},
		{"CustomResourceDefinition", "", "unbound.anynines.com", nil},
		{"ConfigMap", "", "c1", nil},
	} {
		t.Run(tc.kind+" "+tc.namespace+"/"+tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, render.ClustersOf(in, tc.kind, tc.namespace, tc.name))
		})
	}
}

func TestEveryRenderHoldsTheMarker(t *testing.T) {
	out := render.Render(render.Input{})
	require.Contains(t, out.Tree, staterepo.MarkerPath)
	format, err := staterepo.MarkerFormat(out.Tree[staterepo.MarkerPath])
	require.NoError(t, err)
	assert.Equal(t, staterepo.StateFormat, format)
	assert.Equal(t, staterepo.Marker(), out.Tree[staterepo.MarkerPath])

	for _, bad := range []string{"", "format: [1\n", "other: 1\n"} {
		_, err := staterepo.MarkerFormat([]byte(bad))
		assert.Error(t, err, "%q is no marker", bad)
	}
}

func crdNamed(t *testing.T, in *render.Input, name string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	for i := range in.CRDs {
		if in.CRDs[i].Name == name {
			return &in.CRDs[i]
		}
	}
	t.Fatalf("no CRD %s in the input", name)
	return nil
}

func templateNamed(t *testing.T, in *render.Input, name string) *v1alpha1.APIServiceExportTemplate {
	t.Helper()
	for i := range in.Templates {
		if in.Templates[i].Name == name {
			return &in.Templates[i]
		}
	}
	t.Fatalf("no template %s in the input", name)
	return nil
}
