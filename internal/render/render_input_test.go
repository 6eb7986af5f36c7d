package render_test

import (
	"math/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/statedir"
	"github.com/bindsync/bindsync/internal/staterepo"
)

func problemsOf(out render.Output) string {
	var b strings.Builder
	for _, p := range out.Problems {
		b.WriteString(p.String() + "\n")
	}
	return b.String()
}

func TestACRDNameCanNeverLeaveItsClusterFolder(t *testing.T) {
	in := loadCase(t, "one-cluster-one-binding")
	evil := *in.CRDs[0].DeepCopy()
	evil.Spec.Group = "x/../../../../a/control-plane/rbac"
	evil.Spec.Names.Plural = "widgets"
	evil.Name = "widgets." + evil.Spec.Group
	in.CRDs = append(in.CRDs, evil)
	in.Templates = append(in.Templates, v1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "evil"},
		Spec:       v1alpha1.APIServiceExportTemplateSpec{Resources: []v1alpha1.GroupResource{{Group: evil.Spec.Group, Resource: "widgets"}}},
	})
	in.Requests = append(in.Requests, v1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "evil", Namespace: "bindsync-c1"},
		Spec:       v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: "evil"}},
	})
	out := render.Render(in)
	assert.Contains(t, problemsOf(out), "CustomResourceDefinition "+evil.Name+": InvalidCRD: spec.group")
	for _, p := range out.Tree.Paths() {
		assert.NotContains(t, p, "..", "rendered path %s", p)
		if p != staterepo.ReadmePath && p != staterepo.MarkerPath {
			assert.True(t, strings.HasPrefix(p, "clusters/c1/"), "rendered path %s", p)
		}
	}
}

func TestBindsyncsOwnAPIsCannotBeBound(t *testing.T) {
	in := loadCase(t, "one-cluster-one-binding")
	for _, group := range []string{"bindsync.io", "rbac.authorization.k8s.io", "apiextensions.k8s.io"} {
		in.Templates = append(in.Templates, v1alpha1.APIServiceExportTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: "escalate-" + group},
			Spec:       v1alpha1.APIServiceExportTemplateSpec{Resources: []v1alpha1.GroupResource{{Group: group, Resource: "things"}}},
		})
	}
	out := render.Render(in)
	for _, group := range []string{"bindsync.io", "rbac.authorization.k8s.io", "apiextensions.k8s.io"} {
		assert.Contains(t, problemsOf(out), "APIServiceExportTemplate escalate-"+group+": InvalidTemplate: spec.resources[0]: things."+group+" cannot be bound")
	}
}

func TestDifferingDuplicatesAreNeitherUsedWhateverTheOrder(t *testing.T) {
	in := loadCase(t, "two-clusters-shared-template")
	other := *in.Templates[0].DeepCopy()
	other.Spec.PermissionClaims = []v1alpha1.PermissionClaim{{GroupResource: v1alpha1.GroupResource{Resource: "secrets"}, Verbs: []v1alpha1.Verb{"get"}}}
	in.Templates = append(in.Templates, other)
	same := *in.Clusters[0].DeepCopy()
	in.Clusters = append(in.Clusters, same) // an identical copy is harmless

	first := render.Render(in)
	assert.Contains(t, problemsOf(first), "APIServiceExportTemplate "+other.Name+": Duplicate: defined 2 times with different contents; none is used")
	assert.NotContains(t, problemsOf(first), "AppCluster", "an identical copy is not a problem")
	for i := range 20 {
		rng := rand.New(rand.NewSource(int64(i)))
		shuffled := in
		shuffled.Templates = append(in.Templates[:0:0], in.Templates...)
		rng.Shuffle(len(shuffled.Templates), func(a, b int) {
			shuffled.Templates[a], shuffled.Templates[b] = shuffled.Templates[b], shuffled.Templates[a]
		})
		again := render.Render(shuffled)
		require.True(t, statedir.Diff(first.Tree, again.Tree).Empty(), "shuffle %d rendered other files", i)
		require.Equal(t, first.Problems, again.Problems)
	}
}
