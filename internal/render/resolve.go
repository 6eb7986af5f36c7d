package render

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/bindsync/bindsync/api/v1alpha1"
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
