package render

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unsafe"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// serviceAccountYAML is the same for every cluster: the namespace comes from
// the cluster's kustomization.
var serviceAccountYAML = mustMarshal(&corev1.ServiceAccount{
	TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
	ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.AgentServiceAccount},
})

// renderCluster writes one cluster's two folders into tree.
func (r *renderer) renderCluster(tree staterepo.Tree, c *clusterEntry) {
	own := r.clusterFiles(c)
	for i, f := range own.files {
		tree[own.paths[i]] = f
	}
	shared := own.paths[len(own.files):]
	for i, b := range c.bindings {
		f := r.bindingFiles(b)
		tree[shared[2*i]] = f.export
		tree[shared[2*i+1]] = f.crd
	}
	paths, files := r.namespaceFiles(c)
	for i, p := range paths {
		tree[p] = files[i]
	}
}

// clusterFiles returns a cluster's own files (namespace, ServiceAccount,
// RBAC, kustomizations) and all its paths, from the cache when an earlier
// render made them from the same content.
func (r *renderer) clusterFiles(c *clusterEntry) *cachedCluster {
	key := append(r.keyBuf[:0], c.name...)
	key = append(key, 0)
	for _, t := range c.revoked {
		key = append(key, t...)
		key = append(key, 0)
	}
	key = append(key, 0)
	for _, b := range c.bindings {
		key = binary.LittleEndian.AppendUint64(key, b.template.id)
		key = binary.LittleEndian.AppendUint64(key, r.shapeOf(b.crd))
	}
	r.keyBuf = key
	if e, ok := r.cache.clusters[string(key)]; ok {
		e.used = r.cache.gen
		return e
	}
	e := r.makeClusterFiles(c)
	e.used = r.cache.gen
	r.cache.clusters[string(key)] = e
	return e
}

// shapeOf returns the cache's number for what a cluster's own files read of
// a CRD (see crdShape).
func (r *renderer) shapeOf(e *crdEntry) uint64 {
	if e.shape == 0 {
		e.shape = r.cache.shape(crdShape{name: e.crd.Name, group: e.snap.Group, plural: e.snap.Names.Plural, scope: e.snap.Scope})
	}
	return e.shape
}

func (r *renderer) makeClusterFiles(c *clusterEntry) *cachedCluster {
	cp := staterepo.ControlPlaneDir(c.name)
	resources := []string{"namespace.yaml", "serviceaccount.yaml", "rbac.yaml"}
	var crds []string
	for _, b := range c.bindings {
		name := b.crd.crd.Name
		resources = append(resources, "exports/"+name+".yaml")
		crds = append(crds, "crds/"+name+".yaml")
	}
	e := &cachedCluster{
		paths: []string{
			cp + "/namespace.yaml", cp + "/serviceaccount.yaml", cp + "/rbac.yaml",
			cp + "/" + staterepo.KustomizationFile, staterepo.AppDir(c.name) + "/" + staterepo.KustomizationFile,
		},
		files: [][]byte{
			mustMarshalPlain(namespaceDoc{
				APIVersion: "v1", Kind: "Namespace", Metadata: namespaceMeta{
					Labels: map[string]string{podSecurityEnforceLabel: "restricted"},
					Name:   v1alpha1.ClusterNamespace(c.name),
				},
			}),
			serviceAccountYAML,
			r.rbacYAML(c),
			kustomization(c.name, v1alpha1.ClusterNamespace(c.name), resources),
			kustomization(c.name, "", crds),
		},
	}
	for _, t := range c.revoked {
		e.paths = append(e.paths, staterepo.RevokedPath(c.name, t))
		e.files = append(e.files, revocationFile(c.name, t))
	}
	// ExportPath and CRDPath, joined without path.Join's cleaning: the
	// cluster's name is a DNS label and the CRD's a DNS subdomain, so there
	// is nothing to clean (TestCachedRenderIsRender checks).
	app := staterepo.AppDir(c.name)
	for _, b := range c.bindings {
		e.paths = append(e.paths, cp+"/exports/"+b.crd.crd.Name+".yaml", app+"/crds/"+b.crd.crd.Name+".yaml")
	}
	return e
}

// bindingFiles returns the export and CRD files of a binding, serialised
// once per (CRD, template) content and shared by every cluster.
func (r *renderer) bindingFiles(b binding) *cachedFiles {
	t := b.template
	if t.files == nil {
		t.files = make([]*cachedFiles, len(t.crds))
	}
	if f := t.files[b.index]; f != nil {
		return f
	}
	f := r.cachedBindingFiles(b)
	t.files[b.index] = f
	return f
}

func (r *renderer) cachedBindingFiles(b binding) *cachedFiles {
	key := fileKey{crd: b.crd.id, template: b.template.id}
	if f, ok := r.cache.files[key]; ok {
		f.used = r.cache.gen
		return f
	}
	f := &cachedFiles{used: r.cache.gen, export: exportFile(b), crd: crdFile(b)}
	r.cache.files[key] = f
	return f
}

// exportFile serialises the APIServiceExport of a binding.
func exportFile(b binding) []byte {
	tplName := b.template.tpl.Name
	exp := &v1alpha1.APIServiceExport{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "APIServiceExport"},
		ObjectMeta: metav1.ObjectMeta{Name: b.crd.crd.Name, Annotations: annotations(b)},
		Spec: v1alpha1.APIServiceExportSpec{
			CRDSnapshot:      b.crd.snap,
			SchemaHash:       b.crd.hash,
			TemplateRef:      v1alpha1.TemplateReference{Name: tplName},
			PermissionClaims: b.template.tpl.Spec.PermissionClaims,
		},
	}
	return mustMarshal(exp)
}

// crdFile serialises the CRD an app cluster applies for a binding.
// bindsync's annotations are added to the ones the snapshot carries from the
// provider (api-approved.kubernetes.io), never in their place.
func crdFile(b binding) []byte {
	crd := b.crd.appCRD.DeepCopy()
	if crd.Annotations == nil {
		crd.Annotations = map[string]string{}
	}
	for k, v := range annotations(b) {
		crd.Annotations[k] = v
	}
	return mustMarshal(crd)
}

func annotations(b binding) map[string]string {
	a := map[string]string{
		v1alpha1.SchemaHashAnnotation: b.crd.hash,
		v1alpha1.TemplateAnnotation:   b.template.tpl.Name,
	}
	if dropped := b.crd.snap.DroppedVersions; len(dropped) > 0 {
		a[v1alpha1.DroppedVersionsAnnotation] = strings.Join(dropped, ",")
	}
	return a
}

// kustomizationDoc is a kustomization.yaml; cluster-specific values live here
// and nowhere else.
// Its fields are in the order a sorted-key encoder would write them.
type kustomizationDoc struct {
	APIVersion string           `yaml:"apiVersion"`
	Kind       string           `yaml:"kind"`
	Labels     []kustomizeLabel `yaml:"labels"`
	Namespace  string           `yaml:"namespace,omitempty"`
	Resources  []string         `yaml:"resources"`
}

type kustomizeLabel struct {
	Pairs map[string]string `yaml:"pairs"`
}

// namespaceDoc and roleBindingDoc are per-cluster objects, encoded straight
// to YAML (no JSON round trip): they are written once per cluster, so their
// cost is what grows with the number of clusters.
type namespaceDoc struct {
	APIVersion string        `yaml:"apiVersion"`
	Kind       string        `yaml:"kind"`
	Metadata   namespaceMeta `yaml:"metadata"`
}

type namespaceMeta struct {
	Labels map[string]string `yaml:"labels"`
	Name   string            `yaml:"name"`
}

// podSecurityEnforceLabel on a cluster's namespace makes the control plane's
// API server refuse any pod there that is not "restricted" (no host
// namespaces, no privilege, non-root): nothing bindsync grants runs pods, so
// nothing legitimate is lost, and a grant that slipped through could not
// start a privileged pod.
const podSecurityEnforceLabel = "pod-security.kubernetes.io/enforce"

type nameMeta struct {
	Name string `yaml:"name"`
}

type roleBindingDoc struct {
	APIVersion string       `yaml:"apiVersion"`
	Kind       string       `yaml:"kind"`
	Metadata   nameMeta     `yaml:"metadata"`
	RoleRef    roleRefDoc   `yaml:"roleRef"`
	Subjects   []subjectDoc `yaml:"subjects"`
}

type roleRefDoc struct {
	APIGroup string `yaml:"apiGroup"`
	Kind     string `yaml:"kind"`
	Name     string `yaml:"name"`
}

type subjectDoc struct {
	Kind      string `yaml:"kind"`
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace"`
}

func kustomization(cluster, namespace string, resources []string) []byte {
	if resources == nil {
		resources = []string{}
	}
	return mustMarshalPlain(kustomizationDoc{
		APIVersion: "kustomize.config.k8s.io/v1beta1",
		Kind:       "Kustomization",
		Namespace:  namespace,
		Labels: []kustomizeLabel{{Pairs: map[string]string{
			v1alpha1.ManagedLabel: "true",
			v1alpha1.ClusterLabel: cluster,
		}}},
		Resources: resources,
	})
}

// agentRules are what every cluster's agent may do in its own namespace,
// whatever it binds: read its exports and report status on them, create,
// read and delete (unbind) its requests, and ask for its app namespaces'
// control-plane namespaces (APIServiceNamespace) and read their status.
var agentRules = []rbacv1.PolicyRule{
	{APIGroups: []string{v1alpha1.GroupName}, Resources: []string{"apiserviceexportrequests"}, Verbs: []string{"create", "delete", "get", "list", "watch"}},
	{APIGroups: []string{v1alpha1.GroupName}, Resources: []string{"apiservicenamespaces"}, Verbs: []string{"create", "delete", "get", "list", "watch"}},
	{APIGroups: []string{v1alpha1.GroupName}, Resources: []string{"apiserviceexports"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{v1alpha1.GroupName}, Resources: []string{"apiserviceexports/status"}, Verbs: []string{"get", "patch", "update"}},
}

// boundVerbs are the verbs an app cluster has on the resources it binds.
var boundVerbs = []string{"create", "delete", "get", "list", "patch", "update", "watch"}

// rbacYAML renders a cluster's Role and RoleBinding, and for cluster-scoped
// bound CRDs a ClusterRole and ClusterRoleBinding that grant those resources
// and nothing else. The subject is always the cluster's own ServiceAccount.
// (The rights in the cluster's instance namespaces are a Role in each of
// them, in the namespaces folder: see namespaceFile.)
// The Role depends only on what the cluster binds, so clusters that bind the
// same set share one serialisation of it.
func (r *renderer) rbacYAML(c *clusterEntry) []byte {
	ns := v1alpha1.ClusterNamespace(c.name)
	role, clusterRules, _ := r.roleYAML(c)
	var buf bytes.Buffer
	buf.Write(role)
	buf.WriteString("---\n")
	buf.Write(mustMarshalPlain(roleBindingDoc{
		APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding",
		Metadata: nameMeta{Name: v1alpha1.AgentServiceAccount},
		RoleRef:  roleRefDoc{APIGroup: rbacv1.GroupName, Kind: "Role", Name: v1alpha1.AgentServiceAccount},
		Subjects: []subjectDoc{{Kind: rbacv1.ServiceAccountKind, Name: v1alpha1.AgentServiceAccount, Namespace: ns}},
	}))
	if len(clusterRules) == 0 {
		return buf.Bytes()
	}
	name := ClusterRoleName(c.name)
	buf.WriteString("---\n")
	buf.Write(mustMarshal(&rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      clusterRules,
	}))
	buf.WriteString("---\n")
	buf.Write(mustMarshalPlain(roleBindingDoc{
		APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding",
		Metadata: nameMeta{Name: name},
		RoleRef:  roleRefDoc{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []subjectDoc{{Kind: rbacv1.ServiceAccountKind, Name: v1alpha1.AgentServiceAccount, Namespace: ns}},
	}))
	return buf.Bytes()
}

// roleYAML returns the serialised Role for the cluster's bindings, the
// rules of cluster-scoped bound resources and the serialised rules of the
// Role bindsync-agent in each instance namespace (instanceRulesYAML), all
// cached by binding set.
func (r *renderer) roleYAML(c *clusterEntry) ([]byte, []rbacv1.PolicyRule, []byte) {
	// the entries, not their names: one renderer has one entry per template
	// and CRD name, and Keep gives each export it reads back its own
	key := make([]byte, 0, 16*len(c.bindings))
	for _, b := range c.bindings {
		key = binary.LittleEndian.AppendUint64(key, uint64(uintptr(unsafe.Pointer(b.template))))
		key = binary.LittleEndian.AppendUint64(key, uint64(uintptr(unsafe.Pointer(b.crd))))
	}
	if cached, ok := r.roles[string(key)]; ok {
		return cached.role, cached.clusterRules, cached.instanceRules
	}
	rules := append([]rbacv1.PolicyRule(nil), agentRules...)
	var clusterRules, instanceRules, claims []rbacv1.PolicyRule
	claimed := map[*templateEntry]bool{}
	for _, b := range c.bindings {
		snap := b.crd.snap
		bound := []rbacv1.PolicyRule{
			{APIGroups: []string{snap.Group}, Resources: []string{snap.Names.Plural}, Verbs: boundVerbs},
			{APIGroups: []string{snap.Group}, Resources: []string{snap.Names.Plural + "/status"}, Verbs: []string{"get"}},
		}
		if snap.Scope == apiextensionsv1.ClusterScoped {
			clusterRules = append(clusterRules, bound...)
		} else {
			rules = append(rules, bound...)
			instanceRules = append(instanceRules, bound...)
		}
		if claimed[b.template] {
			continue
		}
		claimed[b.template] = true
		for _, claim := range b.template.tpl.Spec.PermissionClaims {
			claims = append(claims, claimRule(claim))
		}
	}
	rules = append(rules, claims...)
	// claims are granted in instance namespaces only with a bound
	// namespaced resource to use them for
	var instance []byte
	if len(instanceRules) > 0 {
		instance = instanceRulesYAML(normalizeRules(append(instanceRules, claims...)))
	} else {
		instance = instanceRulesYAML(nil)
	}
	role := mustMarshal(&rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.AgentServiceAccount},
		Rules:      normalizeRules(rules),
	})
	if len(clusterRules) > 0 {
		clusterRules = normalizeRules(clusterRules)
	}
	r.roles[string(key)] = roleEntry{role: role, clusterRules: clusterRules, instanceRules: instance}
	return role, clusterRules, instance
}

// instanceRulesYAML serialises the rules of an instance namespace's Role:
// the "rules:" block that ends the Role document (keys are sorted, and
// "rules" sorts last), so one serialisation serves every namespace of the
// cluster. No rules (the cluster binds no namespaced resource) is an empty
// list: the Role then grants nothing.
func instanceRulesYAML(rules []rbacv1.PolicyRule) []byte {
	if rules == nil {
		rules = []rbacv1.PolicyRule{}
	}
	return mustMarshal(&struct {
		Rules []rbacv1.PolicyRule `json:"rules"`
	}{rules})
}

// ClusterRoleName names the ClusterRole (and its binding) of one app cluster.
func ClusterRoleName(cluster string) string { return "bindsync:" + cluster + ":agent" }

func claimRule(c v1alpha1.PermissionClaim) rbacv1.PolicyRule {
	verbs := make([]string, len(c.Verbs))
	for i, v := range c.Verbs {
		verbs[i] = string(v)
	}
	return rbacv1.PolicyRule{
		APIGroups:     []string{c.Group},
		Resources:     []string{c.Resource},
		Verbs:         verbs,
		ResourceNames: append([]string(nil), c.ResourceNames...),
	}
}

// mergeKey says which rules normalizeRules merges: those of one group that
// grant the same verbs on the same names. It is a struct of the exact lists,
// so two rules whose strings would join to the same text (a group "g|x", a
// name "a,b") never share a key.
type mergeKey struct {
	groups, names, verbs string // each list encoded as JSON, which is unambiguous
}

func newMergeKey(r rbacv1.PolicyRule) mergeKey {
	enc := func(list []string) string {
		b, err := json.Marshal(list)
		if err != nil {
			panic(fmt.Sprintf("render: encode %q: %v", list, err))
		}
		return string(b)
	}
	return mergeKey{groups: enc(r.APIGroups), names: enc(r.ResourceNames), verbs: enc(r.Verbs)}
}

// normalizeRules merges rules that grant the same verbs on the same names in
// one group into one rule, sorts every list inside them and sorts the rules,
// so the same grants always render the same bytes.
func normalizeRules(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	merged := map[mergeKey]*rbacv1.PolicyRule{}
	var keys []mergeKey
	for _, r := range rules {
		r.APIGroups = append([]string(nil), r.APIGroups...)
		r.Verbs = sortedCopy(r.Verbs)
		r.ResourceNames = sortedCopy(r.ResourceNames)
		if len(r.ResourceNames) == 0 {
			r.ResourceNames = nil
		}
		key := newMergeKey(r)
		if m, ok := merged[key]; ok {
			m.Resources = append(m.Resources, r.Resources...)
			continue
		}
		r.Resources = append([]string(nil), r.Resources...)
		merged[key] = &r
		keys = append(keys, key)
	}
	out := make([]rbacv1.PolicyRule, 0, len(keys))
	for _, k := range keys {
		r := merged[k]
		r.Resources = uniqueSorted(r.Resources)
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool { return compareRules(out[i], out[j]) < 0 })
	return out
}

// compareRules orders rules by group, resources, names and verbs, comparing
// the lists element by element, so distinct rules never compare equal.
func compareRules(a, b rbacv1.PolicyRule) int {
	for _, c := range [][2][]string{
		{a.APIGroups, b.APIGroups}, {a.Resources, b.Resources}, {a.ResourceNames, b.ResourceNames}, {a.Verbs, b.Verbs},
	} {
		if n := slices.Compare(c[0], c[1]); n != 0 {
			return n
		}
	}
	return 0
}

func uniqueSorted(in []string) []string {
	out := sortedCopy(in)
	n := 0
	for i, v := range out {
		if i == 0 || v != out[n-1] {
			out[n] = v
			n++
		}
	}
	return out[:n]
}

func sortedCopy(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}

// mustMarshal renders obj as YAML with sorted keys, without the fields a
// typed object carries empty (metadata.creationTimestamp, status). Every
// value passed here is built by this package, so encoding cannot fail.
func mustMarshal(obj any) []byte {
	j, err := json.Marshal(obj)
	if err != nil {
		panic(fmt.Sprintf("render: encode %T: %v", obj, err))
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		panic(fmt.Sprintf("render: decode %T: %v", obj, err))
	}
	delete(m, "status")
	if meta, ok := m["metadata"].(map[string]any); ok {
		delete(meta, "creationTimestamp")
	}
	y, err := yaml.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("render: encode %T as YAML: %v", obj, err))
	}
	return y
}

// revocationFile is the content of RevokedPath(cluster, template): what it
// means and how to lift it, for the human who finds it.
func revocationFile(cluster, template string) []byte {
	return []byte(fmt.Sprintf(`# bindsync: template %s is revoked for app cluster %s. Its requests there
# are rejected, whatever their UID, and nothing of it is rendered for the
# cluster. Delete this file on main to lift the revocation.
cluster: %s
template: %s
`, template, cluster, cluster, template))
}

// RevocationsIn returns the revocations a tree holds (RevokedPath files),
// sorted: what `bindsync render` reads back from the folder it writes.
func RevocationsIn(t staterepo.Tree) []Revocation {
	var out []Revocation
	for p := range t {
		if rv, ok := RevocationOfPath(p); ok {
			out = append(out, rv)
		}
	}
	slices.SortFunc(out, func(a, b Revocation) int {
		if c := strings.Compare(a.Cluster, b.Cluster); c != 0 {
			return c
		}
		return strings.Compare(a.Template, b.Template)
	})
	return out
}

// RevocationOfPath recognises clusters/<cluster>/revoked/<template>.
func RevocationOfPath(p string) (Revocation, bool) {
	rest, ok := strings.CutPrefix(p, staterepo.ClustersDir+"/")
	if !ok {
		return Revocation{}, false
	}
	c, rest, ok := strings.Cut(rest, "/")
	if !ok || c == "" {
		return Revocation{}, false
	}
	t, ok := strings.CutPrefix(rest, "revoked/")
	if !ok || t == "" || strings.Contains(t, "/") {
		return Revocation{}, false
	}
	return Revocation{Cluster: c, Template: t}, true
}
