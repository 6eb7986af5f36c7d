package render

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Kinds named in problems.
const (
	kindCRD      = "CustomResourceDefinition"
	kindTemplate = "APIServiceExportTemplate"
	kindCluster  = "AppCluster"
	kindRequest  = "APIServiceExportRequest"
)

// forbiddenGroups may never be bound or claimed: access to them would let an
// app cluster grant itself more than its templates do.
var forbiddenGroups = map[string]bool{
	v1alpha1.GroupName:             true,
	"rbac.authorization.k8s.io":    true,
	"apiextensions.k8s.io":         true,
	"admissionregistration.k8s.io": true,
	"certificates.k8s.io":          true,
}

// crdEntry is one CRD of the control plane and its snapshot, made on first use.
type crdEntry struct {
	crd     *apiextensionsv1.CustomResourceDefinition
	snap    v1alpha1.CRDSnapshot
	hash    string
	appCRD  *apiextensionsv1.CustomResourceDefinition // the CRD app clusters get, without annotations
	err     error
	snapped bool
	warned  bool
	id      uint64 // the cache's number for this content
	shape   uint64 // the cache's number for its crdShape (0 until needed)
}

// templateEntry is a template and, when it can be rendered, the CRDs it binds.
type templateEntry struct {
	tpl     *v1alpha1.APIServiceExportTemplate
	crds    []*crdEntry
	problem string         // why the template cannot be rendered; "" when it can
	id      uint64         // the cache's number for this content
	files   []*cachedFiles // files[i] are crds[i]'s, found on first use
}

// roleEntry is a serialised Role, the cluster-scoped rules that go with it
// and the serialised rules of the instance namespaces' Role.
type roleEntry struct {
	role          []byte
	clusterRules  []rbacv1.PolicyRule
	instanceRules []byte
}

// binding is one CRD bound into one cluster through one template.
type binding struct {
	template *templateEntry
	crd      *crdEntry
	index    int    // of crd in template.crds
	request  string // the request's name
}

// clusterEntry is a valid app cluster and what it binds, sorted by CRD name.
type clusterEntry struct {
	name     string
	revoked  []string // templates revoked for the cluster, sorted
	bindings []binding
	bound    map[*crdEntry]binding // CRD -> its binding, once it binds many (see boundBy)
	// namespaces are the app namespaces given a control-plane namespace
	// (APIServiceNamespace names), sorted.
	namespaces []string
}

type renderer struct {
	in        Input
	cache     *Cache
	crds      map[string]*crdEntry
	templates map[string]*templateEntry
	clusters  []*clusterEntry
	byName    map[string]*clusterEntry
	invalid   map[string]bool      // cluster names that exist but are invalid
	roles     map[string]roleEntry // binding set -> Role, see roleYAML
	results   []RequestResult
	keyBuf    []byte // scratch for cluster cache keys
	// collide are the APIServiceNamespaces refused for their control-plane
	// namespace's name, over the whole input (namespaceCollisions).
	collide  map[nsKey]string
	problems problemList
	warnings problemList
}

func newRenderer(in Input, cache *Cache) *renderer {
	return &renderer{
		in:        in,
		cache:     cache,
		crds:      map[string]*crdEntry{},
		templates: map[string]*templateEntry{},
		byName:    map[string]*clusterEntry{},
		invalid:   map[string]bool{},
		roles:     map[string]roleEntry{},
		collide:   namespaceCollisions(in),
	}
}

// resolve validates every object and decides what each cluster binds.
func (r *renderer) resolve() {
	r.indexCRDs()
	r.indexTemplates()
	r.indexClusters()
	r.assignRequests()
	r.indexNamespaces()
}

func (r *renderer) indexCRDs() {
	crds := unique(r, kindCRD, r.in.CRDs, func(c *apiextensionsv1.CustomResourceDefinition) (string, string) { return "", c.Name })
	for _, crd := range crds {
		if msg := validateCRDNames(crd); msg != "" {
			r.problems.add(kindCRD, "", crd.Name, v1alpha1.InvalidCRDReason, msg)
			continue
		}
		r.crds[crd.Name] = &crdEntry{crd: crd}
	}
}

// validateCRDNames checks what the renderer builds paths and RBAC rules from:
// the group must be a DNS subdomain, the plural a DNS label, and the name
// <plural>.<group>, as the API server requires. A name that passes cannot
// step out of a cluster's folder.
func validateCRDNames(crd *apiextensionsv1.CustomResourceDefinition) string {
	group, plural := crd.Spec.Group, crd.Spec.Names.Plural
	if errs := validation.IsDNS1123Subdomain(group); len(errs) > 0 || !strings.Contains(group, ".") {
		return fmt.Sprintf("spec.group %q must be a DNS subdomain with at least one dot", group)
	}
	if errs := validation.IsDNS1123Label(plural); len(errs) > 0 {
		return fmt.Sprintf("spec.names.plural %q must be a DNS-1123 label", plural)
	}
	if crd.Name != plural+"."+group {
		return fmt.Sprintf("name must be <plural>.<group>, %q", plural+"."+group)
	}
	return ""
}

// snapshot returns the entry's snapshot, making it on first use. A CRD that
// cannot be exported is reported once.
func (r *renderer) snapshot(e *crdEntry) error {
	if e.snapped {
		return e.err
	}
	e.snapped = true
	c := r.cache.crd(e.crd)
	e.id, e.snap, e.hash, e.appCRD, e.err = c.id, c.snap, c.hash, c.appCRD, c.err
	if e.err != nil {
		r.problems.add(kindCRD, "", e.crd.Name, v1alpha1.InvalidCRDReason, e.err.Error())
	}
	return e.err
}

func (r *renderer) indexTemplates() {
	tpls := unique(r, kindTemplate, r.in.Templates, func(t *v1alpha1.APIServiceExportTemplate) (string, string) { return "", t.Name })
	for _, tpl := range tpls {
		e := &templateEntry{tpl: tpl, id: r.cache.template(tpl)}
		r.templates[tpl.Name] = e
		reason, msg := r.checkTemplate(e)
		if reason != "" {
			e.problem, e.crds = msg, nil
			r.problems.add(kindTemplate, "", tpl.Name, reason, msg)
		}
	}
}

// checkTemplate resolves a template's CRDs and validates its spec. It returns
// a reason and message when the template cannot be rendered.
func (r *renderer) checkTemplate(e *templateEntry) (reason, msg string) {
	spec := e.tpl.Spec
	if len(spec.Resources) == 0 {
		return v1alpha1.InvalidTemplateReason, "spec.resources is empty"
	}
	seen := map[string]bool{}
	for i, res := range spec.Resources {
		name := res.String()
		if seen[name] {
			return v1alpha1.InvalidTemplateReason, fmt.Sprintf("spec.resources[%d]: %s is listed twice", i, name)
		}
		seen[name] = true
		if m := checkGroup(res.Group); m != "" {
			return v1alpha1.InvalidTemplateReason, fmt.Sprintf("spec.resources[%d]: %s", i, m)
		}
		if forbiddenGroups[res.Group] {
			return v1alpha1.InvalidTemplateReason, fmt.Sprintf("spec.resources[%d]: %s cannot be bound: it would let an app cluster widen its own access", i, name)
		}
		if staterepo.IsBuiltinGroup(res.Group) {
			return v1alpha1.InvalidTemplateReason, fmt.Sprintf("spec.resources[%d]: %s cannot be bound: group %q is served by Kubernetes itself, and RBAC cannot tell a CRD there from a built-in resource", i, name, res.Group)
		}
		crd, ok := r.crds[name]
		if !ok {
			return v1alpha1.CRDNotFoundReason, fmt.Sprintf("spec.resources[%d]: no CRD %s on the control plane", i, name)
		}
		if err := r.snapshot(crd); err != nil {
			return v1alpha1.InvalidCRDReason, fmt.Sprintf("spec.resources[%d]: CRD %s cannot be exported", i, name)
		}
		e.crds = append(e.crds, crd)
	}
	for i, claim := range spec.PermissionClaims {
		if m := checkClaim(claim, spec.Resources); m != "" {
			return v1alpha1.InvalidTemplateReason, fmt.Sprintf("spec.permissionClaims[%d] %s: %s", i, claimName(claim), m)
		}
		if m := checkClaimSync(claim, spec.Resources, fmt.Sprintf("spec.permissionClaims[%d]", i)); m != "" {
			return v1alpha1.InvalidTemplateReason, m
		}
	}
	if p := spec.SchemaUpdatePolicy; p != "" && p != v1alpha1.SchemaUpdateNonBreaking &&
		p != v1alpha1.SchemaUpdateAlways && p != v1alpha1.SchemaUpdateNever {
		return v1alpha1.InvalidTemplateReason, fmt.Sprintf("spec.schemaUpdatePolicy %q is not NonBreaking, Always or Never", p)
	}
	if a := spec.Approval; a != "" && a != v1alpha1.ApprovalAutomatic && a != v1alpha1.ApprovalManual {
		return v1alpha1.InvalidTemplateReason, fmt.Sprintf("spec.approval %q is not Automatic or Manual", a)
	}
	for i, claim := range spec.PermissionClaims {
		if m := ineffectiveNames(claim); m != "" {
			r.warnings.add(kindTemplate, "", e.tpl.Name, v1alpha1.IneffectiveClaimReason, fmt.Sprintf("spec.permissionClaims[%d] %s: %s", i, claimName(claim), m))
		}
	}
	for _, crd := range e.crds {
		if len(crd.snap.DroppedVersions) > 0 && !crd.warned {
			crd.warned = true
			r.warnings.add(kindCRD, "", crd.crd.Name, v1alpha1.UnsupportedConversionReason, fmt.Sprintf(
				"uses webhook conversion, which app clusters cannot reach: only storage version %s is exported; served versions %s are left out",
				storageVersion(crd.snap), strings.Join(crd.snap.DroppedVersions, ", ")))
		}
	}
	return "", ""
}

// claimName names a claim in messages by its group and resource, quoted, so
// that a claim on the core group and a group holding odd characters both read
// unambiguously.
func claimName(c v1alpha1.PermissionClaim) string {
	return fmt.Sprintf("(group %q, resource %q)", c.Group, c.Resource)
}

// checkGroup says why group cannot name an API group, or "": it must be
// empty (the core group) or a DNS subdomain, so no separator or wildcard can
// hide in it.
func checkGroup(group string) string {
	if group == "" {
		return ""
	}
	if errs := validation.IsDNS1123Subdomain(group); len(errs) > 0 {
		return fmt.Sprintf("group %q is neither empty (the core group) nor a DNS subdomain", group)
	}
	return ""
}

// checkClaim says why a permission claim cannot be rendered, or "". Claims are
// an allowlist: Secrets and ConfigMaps of the core group, and resources in the
// (not built-in) groups of the template's own bound resources. Everything
// else (pods, namespaces, resourcequotas, leases, serviceaccounts, any
// sub-resource) is refused, because each would let an app cluster act on the
// control plane beyond the objects it binds.
func checkClaim(c v1alpha1.PermissionClaim, bound []v1alpha1.GroupResource) string {
	if m := checkGroup(c.Group); m != "" {
		return m
	}
	if errs := validation.IsDNS1123Label(c.Resource); len(errs) > 0 {
		return fmt.Sprintf("resource %q is not a plain resource name: wildcards and sub-resources (such as pods/exec or serviceaccounts/token) cannot be claimed", c.Resource)
	}
	if c.Group == "" {
		if !slices.Contains(v1alpha1.ClaimableCoreResources, c.Resource) {
			return fmt.Sprintf("core resource %q cannot be claimed: of the core group only %s are claimable",
				c.Resource, strings.Join(v1alpha1.ClaimableCoreResources, " and "))
		}
	} else {
		var groups []string
		for _, b := range bound {
			if !slices.Contains(groups, b.Group) {
				groups = append(groups, b.Group)
			}
		}
		switch {
		case forbiddenGroups[c.Group]:
			return fmt.Sprintf("group %q cannot be claimed: it would let an app cluster widen its own access", c.Group)
		case staterepo.IsBuiltinGroup(c.Group):
			return fmt.Sprintf("group %q cannot be claimed: it is served by Kubernetes itself, and RBAC cannot tell a CRD there from a built-in resource", c.Group)
		case !slices.Contains(groups, c.Group):
			sort.Strings(groups)
			return fmt.Sprintf("group %q is not the group of a resource this template binds (%s): only secrets, configmaps and resources of those groups are claimable",
				c.Group, strings.Join(groups, ", "))
		}
	}
	if len(c.Verbs) == 0 {
		return "verbs is empty"
	}
	for _, v := range c.Verbs {
		if !slices.Contains(v1alpha1.ClaimVerbs, v) {
			return fmt.Sprintf("verb %q is not one of %s", v, joinVerbs(v1alpha1.ClaimVerbs))
		}
	}
	for i, n := range c.ResourceNames {
		if n == "" {
			return fmt.Sprintf("resourceNames[%d] is empty: RBAC matches an empty name against list and create requests, which name no object, so it would grant every object", i)
		}
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			return fmt.Sprintf("resourceNames[%d] %q is not a DNS subdomain", i, n)
		}
	}
	return ""
}

// claimPath is a reference's jsonPath: dotted plain field names, as the CRD
// pattern says. Input from files is not checked by an API server, so render
// checks it too: the agent reads the field with no evaluator at all.
var claimPath = regexp.MustCompile(`^(\.[A-Za-z_][A-Za-z0-9_-]*)+$`)

// checkClaimSync says why the fields instance sync reads of a claim (owner,
// references) cannot be used, or "", naming the field from at: the owner is
// Provider or Consumer, and each reference names a resource the template
// binds by a dotted plain field path, so no claim can select objects by the
// fields of anything the app cluster does not bind.
func checkClaimSync(c v1alpha1.PermissionClaim, bound []v1alpha1.GroupResource, at string) string {
	if o := c.Owner; o != "" && o != v1alpha1.ClaimOwnerProvider && o != v1alpha1.ClaimOwnerConsumer {
		return fmt.Sprintf("%s.owner %q is not Provider or Consumer", at, o)
	}
	for j, ref := range c.References {
		where := fmt.Sprintf("%s.references[%d]", at, j)
		gr := v1alpha1.GroupResource{Group: ref.Group, Resource: ref.Resource}
		if !slices.Contains(bound, gr) {
			return fmt.Sprintf("%s: (group %q, resource %q) is not a resource this template binds (spec.resources)", where, ref.Group, ref.Resource)
		}
		if len(ref.JSONPath) > 256 || !claimPath.MatchString(ref.JSONPath) {
			return fmt.Sprintf("%s: jsonPath %q is not a dotted path of plain field names (such as .spec.writeConnectionSecretToRef.name)", where, ref.JSONPath)
		}
	}
	return ""
}

func joinVerbs(verbs []v1alpha1.Verb) string {
	s := make([]string, len(verbs))
	for i, v := range verbs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// ineffectiveNames says which verbs of a claim Kubernetes RBAC will not allow
// as asked because the claim names objects. RBAC matches resourceNames against
// the name a request carries: create and deletecollection never carry one, so
// they are never allowed; list and watch carry one only when they select a
// single object by name (field selector metadata.name=<name>), so only such
// requests are allowed.
func ineffectiveNames(c v1alpha1.PermissionClaim) string {
	if len(c.ResourceNames) == 0 {
		return ""
	}
	var never, byName []string
	for _, v := range c.Verbs {
		switch v {
		case "create", "deletecollection":
			never = append(never, string(v))
		case "list", "watch":
			byName = append(byName, string(v))
		}
	}
	sort.Strings(never)
	sort.Strings(byName)
	var parts []string
	if len(byName) > 0 {
		parts = append(parts, fmt.Sprintf("RBAC allows %s only for requests that select one named object (field selector metadata.name=<name>), never for all of them",
			strings.Join(byName, " and ")))
	}
	if len(never) > 0 {
		parts = append(parts, fmt.Sprintf("RBAC never allows %s on named objects", strings.Join(never, " or ")))
	}
	if len(parts) == 0 {
		return ""
	}
	return "with resourceNames, " + strings.Join(parts, "; ")
}

func (r *renderer) indexClusters() {
	clusters := unique(r, kindCluster, r.in.Clusters, func(c *v1alpha1.AppCluster) (string, string) { return "", c.Name })
	for _, c := range clusters {
		if msg := ValidateClusterName(c.Name); msg != "" {
			r.invalid[c.Name] = true
			r.problems.add(kindCluster, "", c.Name, v1alpha1.InvalidClusterNameReason, msg)
			continue
		}
		e := &clusterEntry{name: c.Name}
		r.byName[c.Name] = e
		r.clusters = append(r.clusters, e)
	}
	for _, rv := range r.in.Revoked {
		if e := r.byName[rv.Cluster]; e != nil && len(validation.IsDNS1123Subdomain(rv.Template)) == 0 && !slices.Contains(e.revoked, rv.Template) {
			e.revoked = append(e.revoked, rv.Template)
		}
	}
	for _, e := range r.clusters {
		slices.Sort(e.revoked)
	}
}

// ValidateClusterName returns why name cannot name an app cluster, or "" when
// it can: it must be a DNS-1123 label short enough that bindsync-<name> is one
// too, which also keeps it a safe folder name.
func ValidateClusterName(name string) string {
	if isShortDNSLabel(name) {
		return ""
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Sprintf("name %q is not a DNS-1123 label: %s", name, strings.Join(errs, "; "))
	}
	if len(name) > v1alpha1.MaxClusterNameLength {
		return fmt.Sprintf("name %q is longer than %d characters, so namespace %s%s would be invalid",
			name, v1alpha1.MaxClusterNameLength, v1alpha1.ClusterNamespacePrefix, name)
	}
	return ""
}

// isShortDNSLabel is the quick yes of ValidateClusterName: name is a
// DNS-1123 label ([a-z0-9]([-a-z0-9]*[a-z0-9])?) of at most
// MaxClusterNameLength characters. Names it refuses get the full check and
// its message.
func isShortDNSLabel(name string) bool {
	if name == "" || len(name) > v1alpha1.MaxClusterNameLength || name[0] == '-' || name[len(name)-1] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// assignRequests binds each request's CRDs into its cluster. Requests are
// taken oldest first (then by name), so when two requests of one cluster bind
// the same CRD the older one keeps it and the newer one is reported.
func (r *renderer) assignRequests() {
	reqs := make([]*v1alpha1.APIServiceExportRequest, len(r.in.Requests))
	for i := range r.in.Requests {
		reqs[i] = &r.in.Requests[i]
	}
	slices.SortStableFunc(reqs, func(a, b *v1alpha1.APIServiceExportRequest) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	reqs = r.uniqueRequests(reqs)
	if len(reqs) > 0 {
		r.results = make([]RequestResult, 0, len(reqs))
	}
	tpls := make([]*templateEntry, len(reqs))
	for i, req := range reqs {
		tpls[i] = r.templates[req.Spec.TemplateRef.Name]
	}
	hint := 0 // bindings the requests of the current namespace ask for at most
	for i, req := range reqs {
		if i == 0 || req.Namespace != reqs[i-1].Namespace {
			hint = 0
			for j := i; j < len(reqs) && reqs[j].Namespace == req.Namespace; j++ {
				if tpls[j] != nil {
					hint += len(tpls[j].crds)
				}
			}
		}
		res := RequestResult{Namespace: req.Namespace, Name: req.Name, Template: req.Spec.TemplateRef.Name}
		if reason, msg := r.assign(req, tpls[i], hint, &res); reason != "" {
			r.problems.add(kindRequest, req.Namespace, req.Name, reason, msg)
		}
		r.results = append(r.results, res)
	}
	slices.SortFunc(r.results, func(a, b RequestResult) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	for _, c := range r.clusters {
		slices.SortFunc(c.bindings, func(a, b binding) int { return strings.Compare(a.crd.crd.Name, b.crd.crd.Name) })
	}
}

// uniqueRequests is unique for requests sorted by namespace: copies of a
// request (same namespace and name) that are equal collapse to one; copies
// that differ are all left out and reported as Duplicate. Copies can only be
// in one namespace's run, so each run is checked on its own.
func (r *renderer) uniqueRequests(reqs []*v1alpha1.APIServiceExportRequest) []*v1alpha1.APIServiceExportRequest {
	out := make([]*v1alpha1.APIServiceExportRequest, 0, len(reqs))
	for start := 0; start < len(reqs); {
		end := start + 1
		for end < len(reqs) && reqs[end].Namespace == reqs[start].Namespace {
			end++
		}
		run := reqs[start:end]
		start = end
		if !hasDuplicateName(run) {
			out = append(out, run...)
			continue
		}
		copies := map[string][]*v1alpha1.APIServiceExportRequest{}
		for _, q := range run {
			copies[q.Name] = append(copies[q.Name], q)
		}
		dropped := map[string]bool{}
		for _, name := range sortedKeys(boolSet(copies)) {
			c := copies[name]
			same := true
			for _, q := range c[1:] {
				same = same && reflect.DeepEqual(c[0], q)
			}
			if !same {
				dropped[name] = true
				r.problems.add(kindRequest, c[0].Namespace, name, v1alpha1.DuplicateReason,
					fmt.Sprintf("defined %d times with different contents; none is used", len(c)))
			}
		}
		seen := map[string]bool{}
		for _, q := range run {
			if !dropped[q.Name] && !seen[q.Name] {
				seen[q.Name] = true
				out = append(out, q)
			}
		}
	}
	return out
}

// hasDuplicateName reports whether two requests of one namespace's run
// share a name.
func hasDuplicateName(run []*v1alpha1.APIServiceExportRequest) bool {
	if len(run) > 32 {
		seen := make(map[string]bool, len(run))
		for _, q := range run {
			if seen[q.Name] {
				return true
			}
			seen[q.Name] = true
		}
		return false
	}
	for i, q := range run {
		for _, p := range run[:i] {
			if p.Name == q.Name {
				return true
			}
		}
	}
	return false
}

func boolSet[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func (r *renderer) assign(req *v1alpha1.APIServiceExportRequest, tpl *templateEntry, hint int, res *RequestResult) (reason, msg string) {
	name, ok := strings.CutPrefix(req.Namespace, v1alpha1.ClusterNamespacePrefix)
	switch {
	case !ok || name == "":
		return v1alpha1.ClusterNotFoundReason, fmt.Sprintf("namespace %q is not an app cluster namespace (%s<cluster>)", req.Namespace, v1alpha1.ClusterNamespacePrefix)
	case r.invalid[name]:
		return v1alpha1.ClusterNotFoundReason, fmt.Sprintf("AppCluster %q is invalid, see its problem", name)
	}
	cluster := r.byName[name]
	if cluster == nil {
		return v1alpha1.ClusterNotFoundReason, fmt.Sprintf("no AppCluster %q for namespace %s", name, req.Namespace)
	}
	res.Cluster = name
	switch {
	case req.Spec.TemplateRef.Name == "":
		return v1alpha1.TemplateNotFoundReason, "spec.templateRef.name is empty"
	case tpl == nil:
		return v1alpha1.TemplateNotFoundReason, fmt.Sprintf("template %q does not exist", req.Spec.TemplateRef.Name)
	case tpl.problem != "":
		return v1alpha1.InvalidTemplateReason, fmt.Sprintf("template %q cannot be rendered: %s", tpl.tpl.Name, tpl.problem)
	}
	if slices.Contains(cluster.revoked, tpl.tpl.Name) {
		return v1alpha1.RejectedReason, fmt.Sprintf("template %q is revoked for cluster %s by %s in the state repository; delete that file on main to lift it",
			tpl.tpl.Name, name, staterepo.RevokedPath(name, tpl.tpl.Name))
	}
	for _, crd := range tpl.crds {
		other, taken := cluster.boundBy(crd)
		switch {
		case taken && other.template == tpl:
			return v1alpha1.DuplicateRequestReason, fmt.Sprintf("template %q is already bound in cluster %s by request %s; this request renders nothing and holds nothing back: delete it",
				tpl.tpl.Name, name, other.request)
		case taken:
			return v1alpha1.ConflictingRequestReason, fmt.Sprintf("CRD %s is already bound in cluster %s by request %s", crd.crd.Name, name, other.request)
		}
	}
	res.Exports = make([]ExportResult, 0, len(tpl.crds))
	if cluster.bindings == nil {
		cluster.bindings = make([]binding, 0, hint)
	}
	for i, crd := range tpl.crds {
		cluster.bind(binding{template: tpl, crd: crd, index: i, request: req.Name})
		res.Exports = append(res.Exports, ExportResult{Name: crd.crd.Name, SchemaHash: crd.hash})
	}
	slices.SortFunc(res.Exports, func(a, b ExportResult) int { return strings.Compare(a.Name, b.Name) })
	res.Rendered = true
	return "", ""
}

// boundBy returns the binding that already binds crd in the cluster. A
// cluster binds a few CRDs, so its bindings are searched in order; one that
// binds many gets an index.
func (c *clusterEntry) boundBy(crd *crdEntry) (binding, bool) {
	if c.bound != nil {
		b, ok := c.bound[crd]
		return b, ok
	}
	for _, b := range c.bindings {
		if b.crd == crd {
			return b, true
		}
	}
	return binding{}, false
}

func (c *clusterEntry) bind(b binding) {
	c.bindings = append(c.bindings, b)
	switch {
	case c.bound != nil:
		c.bound[b.crd] = b
	case len(c.bindings) > 32:
		c.bound = make(map[*crdEntry]binding, 2*len(c.bindings))
		for _, b := range c.bindings {
			c.bound[b.crd] = b
		}
	}
}

func storageVersion(s v1alpha1.CRDSnapshot) string {
	for _, v := range s.Versions {
		if v.Storage {
			return v.Name
		}
	}
	return ""
}

// unique returns pointers to items sorted by (namespace, name), one per
// object. Copies of an object that are equal collapse to one; copies that
// differ are all left out and reported as Duplicate, because which one the
// author meant cannot be known, and picking one would make the render depend
// on the order of the input.
func unique[T any](r *renderer, kind string, items []T, key func(*T) (namespace, name string)) []*T {
	type group struct {
		namespace, name string
		first           int
		more            []int // further copies, rare
	}
	index := make(map[[2]string]int, len(items))
	groups := make([]group, 0, len(items))
	for i := range items {
		ns, name := key(&items[i])
		k := [2]string{ns, name}
		if g, ok := index[k]; ok {
			groups[g].more = append(groups[g].more, i)
			continue
		}
		index[k] = len(groups)
		groups = append(groups, group{namespace: ns, name: name, first: i})
	}
	slices.SortFunc(groups, func(a, b group) int {
		if c := strings.Compare(a.namespace, b.namespace); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	out := make([]*T, 0, len(groups))
	for _, g := range groups {
		first := &items[g.first]
		same := true
		for _, i := range g.more {
			same = same && reflect.DeepEqual(first, &items[i])
		}
		if !same {
			r.problems.add(kind, g.namespace, g.name, v1alpha1.DuplicateReason,
				fmt.Sprintf("defined %d times with different contents; none is used", 1+len(g.more)))
			continue
		}
		out = append(out, first)
	}
	return out
}

// problemList collects problems and sorts them for output.
type problemList []Problem

func (l *problemList) add(kind, namespace, name, reason, msg string) {
	*l = append(*l, Problem{Kind: kind, Namespace: namespace, Name: name, Reason: reason, Message: msg})
}

func (l problemList) sorted() []Problem {
	out := append([]Problem(nil), l...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
