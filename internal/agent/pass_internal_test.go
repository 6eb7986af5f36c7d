package agent

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/schema"
)

// TestSelectBoundInParts: a pass decodes and applies the build applyBatch
// objects at a time. Selecting in parts gives each binding what selecting
// the whole build at once gives: its CRD, a refusal, or ExportNotFound only
// when no part held its CRD.
func TestSelectBoundInParts(t *testing.T) {
	const cluster = "c"
	crd := func(plural string, labelled bool) built {
		o := renderedCRD(t, plural, "g.test")
		if labelled {
			o.SetLabels(map[string]string{v1alpha1.ManagedLabel: "true", v1alpha1.ClusterLabel: cluster})
		}
		return built{obj: o, file: "clusters/c/app/crds/" + plural + ".yaml"}
	}
	var objs []built
	var bindings []v1alpha1.APIServiceBinding
	for i := range applyBatch + 6 {
		plural := fmt.Sprintf("k%03ds", i)
		objs = append(objs, crd(plural, i != 3))
		bindings = append(bindings, v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: plural + ".g.test"}})
	}
	bindings = append(bindings, v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: "missing.g.test"}})
	opts := Options{Cluster: cluster}
	require.NoError(t, opts.Validate())

	whole := newPass(opts, bindings)
	wantBound, wantRefused := whole.selectBound(objs)
	whole.exportsNotFound()

	parts := newPass(opts, bindings)
	var gotBound []*unstructured.Unstructured
	var gotRefused []Refusal
	for start := 0; start < len(objs); start += applyBatch {
		b, r := parts.selectBound(objs[start:min(start+applyBatch, len(objs))])
		gotBound, gotRefused = append(gotBound, b...), append(gotRefused, r...)
	}
	parts.exportsNotFound()

	assert.Equal(t, wantBound, gotBound)
	assert.Equal(t, wantRefused, gotRefused)
	assert.Equal(t, whole.states, parts.states)
	require.Len(t, gotBound, applyBatch+5, "every labelled CRD with a binding, in both parts")
	assert.Equal(t, v1alpha1.ExportNotFoundReason, parts.states["missing.g.test"].reason)
	assert.Equal(t, v1alpha1.RefusedReason, parts.states["k003s.g.test"].reason)
	assert.Empty(t, parts.states[fmt.Sprintf("k%03ds.g.test", applyBatch+2)].reason, "a CRD of the second part is not ExportNotFound")
}

// renderedCRD is the CRD render writes for a one-version kind plural.group,
// without the cluster's labels.
func renderedCRD(t *testing.T, plural, group string) *unstructured.Unstructured {
	t.Helper()
	provider := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: plural + "." + group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group, Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: plural, Kind: "K" + plural},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{Type: "object"}},
			}},
		},
	}
	snap, err := schema.Snapshot(provider)
	require.NoError(t, err)
	hash, err := schema.Hash(snap)
	require.NoError(t, err)
	out, err := schema.ToCRD(snap)
	require.NoError(t, err)
	out.Annotations = map[string]string{v1alpha1.SchemaHashAnnotation: hash, v1alpha1.TemplateAnnotation: "t"}
	m := renderedMap(out)
	require.NotNil(t, m)
	return &unstructured.Unstructured{Object: m}
}
