package instances

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// appliedHashAnnotation on a provider copy is the sha256 of what the agent
// last applied to it. With it the agent sees a field or label the app object
// dropped (the copy still has it, so comparing the app object with the copy
// alone would miss it) without reading managed fields.
const appliedHashAnnotation = "bindsync.io/applied-hash"

// carried reports whether a label or annotation key of an app object goes up
// to its copy: everything except the keys of Kubernetes, kubectl and
// bindsync (prefixes kubernetes.io/, k8s.io/, bindsync.io/ and their
// subdomains), so an app object can never set the copy's origin or cluster.
func carried(key string) bool {
	domain, _, ok := strings.Cut(key, "/")
	if !ok {
		return true
	}
	for _, d := range []string{"kubernetes.io", "k8s.io", v1alpha1.GroupName} {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return false
		}
	}
	return true
}

// carriedMap returns the entries of m whose keys are carried.
func carriedMap(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if carried(k) {
			out[k] = v
		}
	}
	return out
}

// desiredCopy returns the provider copy of the app object app: same name in
// instNs, the app object's spec, its carried labels and annotations, the
// consumer annotations and the cluster label, and the hash of all that.
func desiredCopy(app *unstructured.Unstructured, cluster, instNs string) *unstructured.Unstructured {
	labels := carriedMap(app.GetLabels())
	labels[v1alpha1.ClusterLabel] = cluster
	annotations := carriedMap(app.GetAnnotations())
	annotations[v1alpha1.ConsumerClusterAnnotation] = cluster
	annotations[v1alpha1.ConsumerNamespaceAnnotation] = app.GetNamespace()
	annotations[v1alpha1.ConsumerNameAnnotation] = app.GetName()
	annotations[v1alpha1.ConsumerUIDAnnotation] = string(app.GetUID())
	c := &unstructured.Unstructured{Object: map[string]any{}}
	c.SetAPIVersion(app.GetAPIVersion())
	c.SetKind(app.GetKind())
	c.SetName(app.GetName())
	c.SetNamespace(instNs)
	c.SetLabels(labels)
	if spec, ok := app.Object["spec"]; ok {
		c.Object["spec"] = spec
	}
	annotations[appliedHashAnnotation] = hashOf(labels, annotations, c.Object["spec"])
	c.SetAnnotations(annotations)
	return c
}

// hashOf hashes the JSON of vs (maps marshal with sorted keys).
func hashOf(vs ...any) string {
	b, _ := json.Marshal(vs)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// copyUpToDate reports whether the live copy holds everything desired holds:
// the same applied hash (nothing was dropped since the last apply) and the
// spec, labels and annotations still there (nobody changed a field the app
// object sets). Fields the provider added are not compared.
func copyUpToDate(live, desired *unstructured.Unstructured) bool {
	if live.GetAnnotations()[appliedHashAnnotation] != desired.GetAnnotations()[appliedHashAnnotation] {
		return false
	}
	if !contains(live.Object["spec"], desired.Object["spec"]) {
		return false
	}
	return subset(desired.GetLabels(), live.GetLabels()) && subset(desired.GetAnnotations(), live.GetAnnotations())
}

// contains reports whether have holds want: every key of a map want (deep),
// elements of a list equal.
func contains(have, want any) bool {
	wm, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(have, want)
	}
	hm, ok := have.(map[string]any)
	if !ok {
		return false
	}
	for k, wv := range wm {
		hv, ok := hm[k]
		if !ok || !contains(hv, wv) {
			return false
		}
	}
	return true
}

func subset(want, have map[string]string) bool {
	for k, v := range want {
		if hv, ok := have[k]; !ok || hv != v {
			return false
		}
	}
	return true
}

// isCopyOf reports whether copy is a provider copy of the app object
// appNs/name of cluster: its origin annotations say so. The namespace it
// lives in must already be the one assigned to (cluster, appNs).
func isCopyOf(copy *unstructured.Unstructured, cluster, appNs, name string) bool {
	a := copy.GetAnnotations()
	return a[v1alpha1.ConsumerClusterAnnotation] == cluster &&
		a[v1alpha1.ConsumerNamespaceAnnotation] == appNs &&
		a[v1alpha1.ConsumerNameAnnotation] == name &&
		copy.GetLabels()[v1alpha1.ClusterLabel] == cluster
}

// restoredObject returns the app object made again from a copy whose app
// object is missing: its spec and carried labels and annotations, no status
// (written next through the status subresource) and no finalizer (added by
// the normal sync).
func restoredObject(copy *unstructured.Unstructured, appNs string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{Object: map[string]any{}}
	o.SetAPIVersion(copy.GetAPIVersion())
	o.SetKind(copy.GetKind())
	o.SetName(copy.GetName())
	o.SetNamespace(appNs)
	if l := carriedMap(copy.GetLabels()); len(l) > 0 {
		o.SetLabels(l)
	}
	if a := carriedMap(copy.GetAnnotations()); len(a) > 0 {
		o.SetAnnotations(a)
	}
	if spec, ok := copy.Object["spec"]; ok {
		o.Object["spec"] = spec
	}
	return o
}

// statusEqual reports whether the app object already shows the copy's status.
func statusEqual(app, copy *unstructured.Unstructured) bool {
	a, aok := app.Object["status"].(map[string]any)
	c, cok := copy.Object["status"].(map[string]any)
	if !cok || len(c) == 0 {
		return !aok || len(a) == 0
	}
	return reflect.DeepEqual(a, c)
}

// fieldString returns the string at a dotted path (.spec.a.b) of o, "" when
// absent or not a string.
func fieldString(o *unstructured.Unstructured, path string) string {
	fields := strings.Split(strings.TrimPrefix(path, "."), ".")
	v, ok, err := unstructured.NestedString(o.Object, fields...)
	if !ok || err != nil {
		return ""
	}
	return v
}

func hasFinalizer(o *unstructured.Unstructured) bool {
	for _, f := range o.GetFinalizers() {
		if f == v1alpha1.InstanceFinalizer {
			return true
		}
	}
	return false
}
