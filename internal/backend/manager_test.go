package backend

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// TestTheCacheKeepsNoManagedFieldsOrLastAppliedCopy: what the manager's
// cache keeps of an object is what the backend reads of it, without the
// managedFields and the kubectl last-applied copy that double its size.
func TestTheCacheKeepsNoManagedFieldsOrLastAppliedCopy(t *testing.T) {
	managed := []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate}}
	cases := []struct {
		name        string
		obj         client.Object
		annotations map[string]string
	}{
		{name: "a request applied with kubectl keeps its other annotations",
			obj: &v1alpha1.APIServiceExportRequest{ObjectMeta: metav1.ObjectMeta{Name: "pg", Namespace: "bindsync-c1", ManagedFields: managed,
				Annotations: map[string]string{lastApplied: `{"spec":{}}`, "team": "payments"}},
				Spec: v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: "postgresql"}}},
			annotations: map[string]string{"team": "payments"}},
		{name: "a template with only the last-applied copy has no annotations left",
			obj: &v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: "postgresql", ManagedFields: managed,
				Annotations: map[string]string{lastApplied: `{}`}}}},
		{name: "the metadata of a CRD",
			obj: &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{Kind: "CustomResourceDefinition", APIVersion: apiextensionsv1.SchemeGroupVersion.String()},
				ObjectMeta: metav1.ObjectMeta{Name: "x.example.com", ManagedFields: managed}}},
	}
	transform := CacheOptions().DefaultTransform
	require.NotNil(t, transform)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := transform(tc.obj.DeepCopyObject())
			require.NoError(t, err)
			o := out.(client.Object)
			assert.Empty(t, o.GetManagedFields())
			assert.Equal(t, len(tc.annotations), len(o.GetAnnotations()))
			for k, v := range tc.annotations {
				assert.Equal(t, v, o.GetAnnotations()[k])
			}
			assert.Equal(t, tc.obj.GetName(), o.GetName(), "the rest is kept")
		})
	}
}

// TestAWrittenStatusIsForgottenOnceTheCacheHoldsIt: what a status patch
// left is remembered (for a cache that still serves the object as it was)
// only until the cache holds the object at the version the patch made.
func TestAWrittenStatusIsForgottenOnceTheCacheHoldsIt(t *testing.T) {
	cases := []struct {
		name     string
		seen     string // resourceVersion the watch delivers
		remember bool
	}{
		{name: "the cache still has the version before the write", seen: "10", remember: true},
		{name: "the cache has the version the write made", seen: "11", remember: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := &Reconciler{}
			answer := &v1alpha1.APIServiceExportRequest{ObjectMeta: metav1.ObjectMeta{Name: "pg", Namespace: "bindsync-c1", UID: "u1", ResourceVersion: "11"}}
			rc.wrote("u1", "10", answer)
			require.Contains(t, rc.written, answer.UID)

			rc.cached(&v1alpha1.APIServiceExportRequest{ObjectMeta: metav1.ObjectMeta{Name: "pg", Namespace: "bindsync-c1", UID: "u1", ResourceVersion: tc.seen}})

			_, kept := rc.written["u1"]
			assert.Equal(t, tc.remember, kept)
		})
	}
}
