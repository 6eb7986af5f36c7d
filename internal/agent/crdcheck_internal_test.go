package agent

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// TestCheckRendered: a CRD is applied only when render could have written
// it; each case names what must be refused and the words that say why.
func TestCheckRendered(t *testing.T) {
	const cluster = "c"
	labelled := func(o *unstructured.Unstructured) *unstructured.Unstructured {
		o.SetLabels(map[string]string{v1alpha1.ManagedLabel: "true", v1alpha1.ClusterLabel: cluster})
		return o
	}
	tests := []struct {
		name string
		edit func(o *unstructured.Unstructured)
		why  string // "" when it is accepted
	}{
		{name: "what render writes is accepted"},
		{name: "dropped versions annotation is render's", edit: func(o *unstructured.Unstructured) {
			a := o.GetAnnotations()
			a[v1alpha1.DroppedVersionsAnnotation] = "v1beta1"
			o.SetAnnotations(a)
		}},
		{name: "webhook conversion", why: "spec.conversion", edit: func(o *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(o.Object, "Webhook", "spec", "conversion", "strategy")
		}},
		{name: "status", why: ".status", edit: func(o *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(o.Object, map[string]any{"acceptedNames": map[string]any{"kind": "X"}}, "status")
		}},
		{name: "a finalizer", why: "metadata.finalizers", edit: func(o *unstructured.Unstructured) { o.SetFinalizers([]string{"x"}) }},
		{name: "another label", why: "metadata.labels", edit: func(o *unstructured.Unstructured) {
			l := o.GetLabels()
			l["x"] = "y"
			o.SetLabels(l)
		}},
		{name: "a changed schema under the old hash", why: v1alpha1.SchemaHashAnnotation, edit: func(o *unstructured.Unstructured) {
			vs, _, _ := unstructured.NestedSlice(o.Object, "spec", "versions")
			v := vs[0].(map[string]any)
			_ = unstructured.SetNestedField(v, "string", "schema", "openAPIV3Schema", "type")
			_ = unstructured.SetNestedSlice(o.Object, vs, "spec", "versions")
		}},
		{name: "no template annotation", why: v1alpha1.TemplateAnnotation, edit: func(o *unstructured.Unstructured) {
			a := o.GetAnnotations()
			delete(a, v1alpha1.TemplateAnnotation)
			o.SetAnnotations(a)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := labelled(renderedCRD(t, "things", "g.example.com"))
			if tt.edit != nil {
				tt.edit(o)
			}
			why := checkRendered(o, cluster)
			if tt.why == "" {
				assert.Empty(t, why)
				return
			}
			assert.Contains(t, why, tt.why)
		})
	}
	for _, group := range []string{"apps.k8s.io", "coordination.k8s.io", "example.kubernetes.io"} {
		t.Run("group "+group, func(t *testing.T) {
			assert.NotEmpty(t, checkRendered(labelled(renderedCRD(t, "things", group)), cluster))
		})
	}
}

// TestApprovedBy: the newest schema commit for a CRD decides; bind commits
// (no Bindsync-Compat) and commits for other CRDs do not.
func TestApprovedBy(t *testing.T) {
	tests := []struct {
		name, msg   string
		ok, decided bool
	}{
		{name: "breaking schema commit for the hash", msg: "schema: x\n\nBindsync-Schema-Hash: a.g=h2\nBindsync-Compat: breaking: field-removed\n", ok: true, decided: true},
		{name: "non-breaking schema commit for the hash", msg: "schema: x\n\nBindsync-Schema-Hash: a.g=h2\nBindsync-Compat: non-breaking\n", decided: true},
		{name: "breaking schema commit for another hash", msg: "schema: x\n\nBindsync-Schema-Hash: a.g=h3\nBindsync-Compat: breaking: field-removed\n", decided: true},
		{name: "schema commit for another CRD", msg: "schema: x\n\nBindsync-Schema-Hash: b.g=h2\nBindsync-Compat: breaking: x\n"},
		{name: "a bind commit", msg: "bind: c <- t\n\nBindsync-Schema-Hash: a.g=h2\n"},
		{name: "a revert", msg: "Revert \"schema: x\"\n\nThis reverts commit 0123.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, decided := approvedBy(tt.msg, "a.g", "h2")
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.decided, decided)
		})
	}
}
