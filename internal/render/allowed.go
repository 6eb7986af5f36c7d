package render

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// What a control-plane folder may hold. The backend applies a cluster's
// folder as main holds it, and main is written by whoever can merge into it,
// not only by this package: a held-back cluster keeps main's files verbatim.
// CheckControlPlaneObject is the layout rule the backend enforces before it
// applies anything: an object passes only when render could have produced it
// for that cluster — its kind, its name and namespace, its labels, and for
// RBAC what it grants and to whom. It reads nothing but the object.

// ControlPlaneKinds are the kinds a cluster's control-plane folder renders.
var ControlPlaneKinds = []schema.GroupKind{
	{Group: "", Kind: "Namespace"},
	{Group: "", Kind: "ServiceAccount"},
	{Group: rbacv1.GroupName, Kind: "Role"},
	{Group: rbacv1.GroupName, Kind: "RoleBinding"},
	{Group: rbacv1.GroupName, Kind: "ClusterRole"},
	{Group: rbacv1.GroupName, Kind: "ClusterRoleBinding"},
	{Group: v1alpha1.GroupName, Kind: "APIServiceExport"},
}

// allowedRuleVerbs are every verb a rendered Role or ClusterRole grants:
// the agent's own rules, the bound resources' and the claims' (ClaimVerbs).
var allowedRuleVerbs = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}

// agentResources are the bindsync.io resources a rendered Role grants (agentRules).
var agentResources = []string{"apiserviceexportrequests", "apiserviceexports", "apiserviceexports/status", "apiservicenamespaces"}

// ruleScope says where a rendered role's rules apply, and so what they may
// grant.
type ruleScope int

const (
	// scopeClusterNamespace: the Role in bindsync-<cluster>.
	scopeClusterNamespace ruleScope = iota
	// scopeClusterWide: the ClusterRole of cluster-scoped bound resources.
	scopeClusterWide
	// scopeInstances: the Role bindsync-agent in an instance namespace.
	scopeInstances
)

// CheckControlPlaneObject returns nil when obj is an object render could
// have written into cluster's control-plane folder (as kustomize builds it:
// namespace and labels from the folder's kustomization), and otherwise an
// error naming the object and what render would never write.
func CheckControlPlaneObject(cluster string, obj *unstructured.Unstructured) error {
	if why := checkControlPlaneObject(cluster, obj); why != "" {
		return fmt.Errorf("%s: %s", describe(obj), why)
	}
	return nil
}

func describe(obj *unstructured.Unstructured) string {
	name := obj.GetName()
	if ns := obj.GetNamespace(); ns != "" {
		name = ns + "/" + name
	}
	return fmt.Sprintf("%s %s", obj.GetObjectKind().GroupVersionKind().GroupKind(), name)
}

func checkControlPlaneObject(cluster string, obj *unstructured.Unstructured) string {
	if m := ValidateClusterName(cluster); m != "" {
		return "cluster " + m
	}
	gvk := obj.GroupVersionKind()
	if !slices.Contains(ControlPlaneKinds, gvk.GroupKind()) {
		return fmt.Sprintf("kind %s is never rendered into a control-plane folder", gvk.GroupKind())
	}
	labels := obj.GetLabels()
	if labels[v1alpha1.ManagedLabel] != "true" || labels[v1alpha1.ClusterLabel] != cluster {
		return fmt.Sprintf("labels %s=%q, %s=%q: cluster %s's folder labels everything %s=true, %s=%s",
			v1alpha1.ManagedLabel, labels[v1alpha1.ManagedLabel], v1alpha1.ClusterLabel, labels[v1alpha1.ClusterLabel],
			cluster, v1alpha1.ManagedLabel, v1alpha1.ClusterLabel, cluster)
	}
	ns := v1alpha1.ClusterNamespace(cluster)
	clusterScoped := gvk.Kind == "Namespace" || gvk.Kind == "ClusterRole" || gvk.Kind == "ClusterRoleBinding"
	switch {
	case clusterScoped && obj.GetNamespace() != "":
		return fmt.Sprintf("a %s is cluster-scoped, and this one names namespace %q", gvk.Kind, obj.GetNamespace())
	case !clusterScoped && obj.GetNamespace() != ns:
		return fmt.Sprintf("namespace %q: cluster %s's objects live in namespace %s only", obj.GetNamespace(), cluster, ns)
	}
	switch gvk.Kind {
	case "Namespace":
		return checkNamespace(cluster, obj)
	case "ServiceAccount":
		return wantName(obj, v1alpha1.AgentServiceAccount)
	case "Role":
		return checkRole(obj, v1alpha1.AgentServiceAccount, scopeClusterNamespace)
	case "ClusterRole":
		return checkRole(obj, ClusterRoleName(cluster), scopeClusterWide)
	case "RoleBinding":
		return checkBinding(cluster, obj, "Role", v1alpha1.AgentServiceAccount, v1alpha1.AgentServiceAccount)
	case "ClusterRoleBinding":
		return checkBinding(cluster, obj, "ClusterRole", ClusterRoleName(cluster), ClusterRoleName(cluster))
	case "APIServiceExport":
		return checkExport(obj)
	}
	return ""
}

func wantName(obj *unstructured.Unstructured, name string) string {
	if obj.GetName() != name {
		return fmt.Sprintf("name %q: render names it %q", obj.GetName(), name)
	}
	return ""
}

// checkNamespace: the cluster's own namespace, with no labels but bindsync's
// and the restricted Pod Security level render sets.
func checkNamespace(cluster string, obj *unstructured.Unstructured) string {
	if m := wantName(obj, v1alpha1.ClusterNamespace(cluster)); m != "" {
		return m
	}
	for k, v := range obj.GetLabels() {
		switch k {
		case v1alpha1.ManagedLabel, v1alpha1.ClusterLabel:
		case podSecurityEnforceLabel:
			if v != "restricted" {
				return fmt.Sprintf("label %s=%q: render sets restricted", k, v)
			}
		default:
			return fmt.Sprintf("label %s is never rendered on a cluster's namespace", k)
		}
	}
	return ""
}

// checkRole: the one name render gives it, and rules of the shapes render
// writes — no wildcard, no non-resource URL, nothing in a group Kubernetes
// serves itself except the claimable core resources, nothing of bindsync.io
// but the agent's own rules.
func checkRole(obj *unstructured.Unstructured, name string, scope ruleScope) string {
	if m := wantName(obj, name); m != "" {
		return m
	}
	var role rbacv1.Role // a ClusterRole without aggregation decodes the same
	if scope == scopeClusterWide {
		if _, found, _ := unstructured.NestedFieldNoCopy(obj.Object, "aggregationRule"); found {
			return "an aggregationRule is never rendered"
		}
		obj = obj.DeepCopy()
		delete(obj.Object, "aggregationRule")
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, &role, true); err != nil {
		return fmt.Sprintf("does not decode as render writes it: %v", err)
	}
	for i, r := range role.Rules {
		if m := checkRule(r, scope); m != "" {
			return fmt.Sprintf("rules[%d]: %s", i, m)
		}
	}
	return ""
}

func checkRule(r rbacv1.PolicyRule, scope ruleScope) string {
	if len(r.NonResourceURLs) > 0 {
		return "nonResourceURLs are never rendered"
	}
	if len(r.APIGroups) != 1 {
		return fmt.Sprintf("apiGroups %q: render writes one group per rule", r.APIGroups)
	}
	for _, v := range r.Verbs {
		if !slices.Contains(allowedRuleVerbs, v) {
			return fmt.Sprintf("verb %q is never rendered (only %s)", v, strings.Join(allowedRuleVerbs, ", "))
		}
	}
	for _, n := range r.ResourceNames {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			return fmt.Sprintf("resourceNames %q is not a DNS subdomain", n)
		}
	}
	group := r.APIGroups[0]
	for _, res := range r.Resources {
		if m := checkRuleResource(group, res, scope); m != "" {
			return m
		}
	}
	return ""
}

func checkRuleResource(group, res string, scope ruleScope) string {
	switch {
	case group == "" && scope != scopeClusterWide && slices.Contains(v1alpha1.ClaimableCoreResources, res):
		return ""
	case group == v1alpha1.GroupName && scope == scopeClusterNamespace && slices.Contains(agentResources, res):
		return ""
	case group == "", forbiddenGroups[group], staterepo.IsBuiltinGroup(group):
		return fmt.Sprintf("resource %q of group %q is never granted: render grants only bound CRDs, claimed secrets and configmaps, and the agent's own bindsync.io rules", res, group)
	case checkGroup(group) != "":
		return checkGroup(group)
	}
	plain, _ := strings.CutSuffix(res, "/status")
	if errs := validation.IsDNS1123Label(plain); len(errs) > 0 {
		return fmt.Sprintf("resource %q of group %q is not a plain resource name (or its /status)", res, group)
	}
	return ""
}

// CheckNamespacesFolder returns nil when objs, a cluster's namespaces folder
// as kustomize builds it, holds only what render writes there: per app
// namespace N the Namespace InstanceNamespace(cluster, N) labelled
// bindsync.io/consumer-namespace=N (and bindsync's labels, Pod Security
// restricted), and in each such namespace the Role bindsync-agent with rules
// of the shapes render writes there (bound CRDs and their status, claimed
// Secrets and ConfigMaps; nothing of bindsync.io or of Kubernetes' own
// groups) and the RoleBinding bindsync-agent of that Role to the cluster's
// agent ServiceAccount only. Otherwise it returns an error naming every
// object render would never write.
func CheckNamespacesFolder(cluster string, objs []*unstructured.Unstructured) error {
	if m := ValidateClusterName(cluster); m != "" {
		return fmt.Errorf("cluster %s", m)
	}
	namespaces := map[string]bool{}
	for _, o := range objs {
		if o.GroupVersionKind().GroupKind() == (schema.GroupKind{Kind: "Namespace"}) && checkInstanceNamespace(cluster, o) == "" {
			namespaces[o.GetName()] = true
		}
	}
	var errs []error
	for _, o := range objs {
		if why := checkNamespacesObject(cluster, o, namespaces); why != "" {
			errs = append(errs, fmt.Errorf("%s: %s", describe(o), why))
		}
	}
	return errors.Join(errs...)
}

func checkNamespacesObject(cluster string, obj *unstructured.Unstructured, namespaces map[string]bool) string {
	labels := obj.GetLabels()
	if labels[v1alpha1.ManagedLabel] != "true" || labels[v1alpha1.ClusterLabel] != cluster {
		return fmt.Sprintf("labels %s=%q, %s=%q: cluster %s's folder labels everything %s=true, %s=%s",
			v1alpha1.ManagedLabel, labels[v1alpha1.ManagedLabel], v1alpha1.ClusterLabel, labels[v1alpha1.ClusterLabel],
			cluster, v1alpha1.ManagedLabel, v1alpha1.ClusterLabel, cluster)
	}
	switch gk := obj.GroupVersionKind().GroupKind(); gk {
	case schema.GroupKind{Kind: "Namespace"}:
		return checkInstanceNamespace(cluster, obj)
	case schema.GroupKind{Group: rbacv1.GroupName, Kind: "Role"}:
		if !namespaces[obj.GetNamespace()] {
			return fmt.Sprintf("namespace %q is not an instance namespace of this folder", obj.GetNamespace())
		}
		return checkRole(obj, v1alpha1.AgentServiceAccount, scopeInstances)
	case schema.GroupKind{Group: rbacv1.GroupName, Kind: "RoleBinding"}:
		if !namespaces[obj.GetNamespace()] {
			return fmt.Sprintf("namespace %q is not an instance namespace of this folder", obj.GetNamespace())
		}
		return checkBinding(cluster, obj, "Role", v1alpha1.AgentServiceAccount, v1alpha1.AgentServiceAccount)
	default:
		return fmt.Sprintf("kind %s is never rendered into a namespaces folder (only Namespace, Role and RoleBinding)", gk)
	}
}

// checkInstanceNamespace: named InstanceNamespace(cluster, N) for the app
// namespace N its consumer-namespace label names, with no labels but
// bindsync's and Pod Security restricted.
func checkInstanceNamespace(cluster string, obj *unstructured.Unstructured) string {
	if obj.GetNamespace() != "" {
		return fmt.Sprintf("a Namespace is cluster-scoped, and this one names namespace %q", obj.GetNamespace())
	}
	app := obj.GetLabels()[v1alpha1.ConsumerNamespaceLabel]
	if m := ValidateAppNamespace(app); m != "" {
		return fmt.Sprintf("label %s: %s", v1alpha1.ConsumerNamespaceLabel, m)
	}
	if m := wantName(obj, InstanceNamespace(cluster, app)); m != "" {
		return m
	}
	for k, v := range obj.GetLabels() {
		switch k {
		case v1alpha1.ManagedLabel, v1alpha1.ClusterLabel, v1alpha1.ConsumerNamespaceLabel:
		case podSecurityEnforceLabel:
			if v != "restricted" {
				return fmt.Sprintf("label %s=%q: render sets restricted", k, v)
			}
		default:
			return fmt.Sprintf("label %s is never rendered on an instance namespace", k)
		}
	}
	return ""
}

// checkBinding: the one name render gives it, bound to the role render
// writes beside it, for the cluster's own agent ServiceAccount only.
func checkBinding(cluster string, obj *unstructured.Unstructured, roleKind, name, role string) string {
	if m := wantName(obj, name); m != "" {
		return m
	}
	var b rbacv1.RoleBinding // a ClusterRoleBinding decodes the same
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(obj.Object, &b, true); err != nil {
		return fmt.Sprintf("does not decode as render writes it: %v", err)
	}
	if want := (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: roleKind, Name: role}); b.RoleRef != want {
		return fmt.Sprintf("roleRef %s %s/%s: render binds %s %s only", b.RoleRef.Kind, b.RoleRef.APIGroup, b.RoleRef.Name, roleKind, role)
	}
	want := rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Name: v1alpha1.AgentServiceAccount, Namespace: v1alpha1.ClusterNamespace(cluster)}
	if len(b.Subjects) != 1 || b.Subjects[0] != want {
		return fmt.Sprintf("subjects %s: render binds only ServiceAccount %s/%s", subjects(b.Subjects), want.Namespace, want.Name)
	}
	return ""
}

func subjects(ss []rbacv1.Subject) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Kind + " " + s.Namespace + "/" + s.Name
	}
	return "[" + strings.Join(out, ", ") + "]"
}

// checkExport: named <plural>.<group> of the CRD it snapshots.
func checkExport(obj *unstructured.Unstructured) string {
	group, _, _ := unstructured.NestedString(obj.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(obj.Object, "spec", "names", "plural")
	if want := plural + "." + group; obj.GetName() != want || plural == "" || group == "" {
		return fmt.Sprintf("name %q: render names an export <plural>.<group> of its CRD snapshot (%q)", obj.GetName(), want)
	}
	if staterepo.IsBuiltinGroup(group) || forbiddenGroups[group] {
		return fmt.Sprintf("group %q is never exported", group)
	}
	return ""
}
