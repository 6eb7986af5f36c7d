package agent

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/schema"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// checkRendered says why a CRD of the folder could not have been written by
// render, or "" when it could. Anyone who can push to the state repository
// can change a CRD file, and the app cluster's API server acts on what a CRD
// says (a conversion webhook receives every instance), so a CRD is applied
// only when it is a fixed point of render: its snapshot, taken as the
// backend takes one, turned back into a CRD as render turns one, with
// bindsync's annotations and this cluster's labels, gives the object again,
// field for field. That refuses a conversion webhook or caBundle, status,
// finalizers, owner references, foreign annotations and any field render
// never writes, and a schema-hash annotation that is not the schema's hash.
// The group is checked as render checks it: never one Kubernetes serves
// itself, and a protected group (*.k8s.io, *.kubernetes.io) only with its
// approval annotation.
func checkRendered(o *unstructured.Unstructured, cluster string) string {
	group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
	if staterepo.IsBuiltinGroup(group) || !strings.Contains(group, ".") {
		return fmt.Sprintf("group %q is served by Kubernetes itself or is not a DNS subdomain with a dot: render never binds it", group)
	}
	if isProtectedGroup(group) && o.GetAnnotations()[apiextensionsv1.KubeAPIApprovedAnnotation] == "" {
		return fmt.Sprintf("group %q is protected and the CRD lacks the %s annotation its provider's CRD would carry", group, apiextensionsv1.KubeAPIApprovedAnnotation)
	}
	data, err := json.Marshal(o.Object)
	if err != nil {
		return fmt.Sprintf("cannot encode it: %v", err)
	}
	var typed apiextensionsv1.CustomResourceDefinition
	if err := json.Unmarshal(data, &typed); err != nil {
		return fmt.Sprintf("not a valid CustomResourceDefinition: %v", err)
	}
	if c := typed.Spec.Conversion; c != nil && (c.Strategy != apiextensionsv1.NoneConverter || c.Webhook != nil) {
		return fmt.Sprintf("spec.conversion is %q with a webhook: render writes strategy None only, so the API server never sends instances anywhere", c.Strategy)
	}
	snap, err := schema.Snapshot(&typed)
	if err != nil {
		return fmt.Sprintf("no snapshot can be taken of it: %v", err)
	}
	hash, err := schema.Hash(snap)
	if err != nil {
		return fmt.Sprintf("its schema cannot be hashed: %v", err)
	}
	ann := o.GetAnnotations()
	if got := ann[v1alpha1.SchemaHashAnnotation]; got != hash {
		return fmt.Sprintf("annotation %s is %q, but its schema hashes to %s", v1alpha1.SchemaHashAnnotation, got, hash)
	}
	if ann[v1alpha1.TemplateAnnotation] == "" {
		return fmt.Sprintf("annotation %s is missing", v1alpha1.TemplateAnnotation)
	}
	want, err := schema.ToCRD(snap)
	if err != nil {
		return fmt.Sprintf("its snapshot gives no CRD: %v", err)
	}
	for _, k := range []string{v1alpha1.SchemaHashAnnotation, v1alpha1.TemplateAnnotation, v1alpha1.DroppedVersionsAnnotation} {
		if v, ok := ann[k]; ok {
			if want.Annotations == nil {
				want.Annotations = map[string]string{}
			}
			want.Annotations[k] = v
		}
	}
	want.Labels = map[string]string{v1alpha1.ManagedLabel: "true", v1alpha1.ClusterLabel: cluster}
	if diff := firstDiff(renderedMap(want), jsonMap(data), ""); diff != "" {
		return "it differs from what render writes for its own schema at " + diff
	}
	return ""
}

// isProtectedGroup reports the groups the API server accepts a CRD in only
// with the api-approved.kubernetes.io annotation.
func isProtectedGroup(group string) bool {
	return group == "k8s.io" || group == "kubernetes.io" ||
		strings.HasSuffix(group, ".k8s.io") || strings.HasSuffix(group, ".kubernetes.io")
}

// renderedMap is crd as render writes it: JSON without status and
// creationTimestamp.
func renderedMap(crd *apiextensionsv1.CustomResourceDefinition) map[string]any {
	data, err := json.Marshal(crd)
	if err != nil {
		return nil
	}
	m := jsonMap(data)
	delete(m, "status")
	if meta, ok := m["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	return m
}

func jsonMap(data []byte) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return nil
	}
	return m
}

// firstDiff returns the JSON path of the first difference between want and
// got, with what each holds there, or "" when they are equal.
func firstDiff(want, got any, at string) string {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok && gok {
		keys := map[string]bool{}
		for k := range wm {
			keys[k] = true
		}
		for k := range gm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			w, inW := wm[k]
			g, inG := gm[k]
			switch {
			case !inW:
				return fmt.Sprintf("%s.%s (render never writes it)", at, k)
			case !inG:
				return fmt.Sprintf("%s.%s (missing)", at, k)
			}
			if d := firstDiff(w, g, at+"."+k); d != "" {
				return d
			}
		}
		return ""
	}
	wl, wok := want.([]any)
	gl, gok := got.([]any)
	if wok && gok && len(wl) == len(gl) {
		for i := range wl {
			if d := firstDiff(wl[i], gl[i], fmt.Sprintf("%s[%d]", at, i)); d != "" {
				return d
			}
		}
		return ""
	}
	if reflect.DeepEqual(want, got) {
		return ""
	}
	return fmt.Sprintf("%s (render writes %s, the file has %s)", at, short(want), short(got))
}

// short shows a value in a message, cut to a readable length.
func short(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(data) > 80 {
		return string(data[:77]) + "..."
	}
	return string(data)
}
