package render

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sync"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/schema"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Cache makes repeated renders of mostly the same input cheap. The backend
// renders all of its clusters on every reconcile, and most of that work
// (snapshotting and hashing each CRD, serialising every export and CRD file,
// every cluster's namespace, RBAC and kustomizations) gives the bytes it gave
// the time before. A Cache remembers those results between renders, keyed by
// the content they are made from, never by a pointer or a resourceVersion
// (only Hold and Keep add finding a CRD by its identity, on a promise;
// docs/caches.md lists every cache and the promise it rests on):
//
//   - a CRD's snapshot, schema hash and app-cluster CRD, by a SHA-256 of
//     everything Snapshot reads (name, annotations, spec, encoded as JSON);
//   - a template, by its name and the JSON of its spec;
//   - an export file and a CRD file, by (CRD, template);
//   - a cluster's namespace, RBAC and kustomization files and its paths, by
//     its name and, per binding, the template and the CRD's name, group,
//     plural and scope: all its small files are made of.
//
// On top of those, a Cache renders at cluster granularity (incremental.go):
// a cluster whose objects and catalog are what an earlier render saw is not
// rendered again, and the output says which folders were (Output.Changes).
//
// Each cached entry gets a number when it is made, never reused, and keys
// that build on another entry hold that number: a changed CRD or template is
// a new entry, so nothing made from its old content can be found again.
//
// Render with a Cache gives the same bytes as Render without one, warm or
// cold (TestCachedRenderIsRender). An entry that none of the last
// cacheKeepRenders renders used is dropped, so the cache holds at most what
// those renders produced (a reconcile renders main and each branch; the
// entries they share stay). A Cache is safe for concurrent use; renders
// through one Cache run one at a time.
type Cache struct {
	mu       sync.Mutex
	gen      uint64 // renders so far; an entry's used is the last one that read it
	lastID   uint64
	crds     map[[sha256.Size]byte]*cachedCRD
	tpls     map[string]*cachedTemplate
	shapes   map[crdShape]*cachedShape
	files    map[fileKey]*cachedFiles
	clusters map[string]*cachedCluster
	// states are the last render of each recent catalog (renderIncremental).
	states map[string][]*renderState
	// keys is the buffer group keys are built in (renderIncremental).
	keys []byte
	// held finds CRDs by identity while the cache is held (Hold); kept
	// finds the CRDs Keep was given, always.
	held, kept map[crdIdentity]*cachedCRD
	treeSize   int // files in the last tree, to size the next one
}

// cacheKeepRenders is how many renders in a row may leave an entry unused
// before it is dropped.
const cacheKeepRenders = 4

// NewCache returns an empty Cache.
func NewCache() *Cache {
	return &Cache{
		crds:     map[[sha256.Size]byte]*cachedCRD{},
		tpls:     map[string]*cachedTemplate{},
		shapes:   map[crdShape]*cachedShape{},
		files:    map[fileKey]*cachedFiles{},
		clusters: map[string]*cachedCluster{},
		states:   map[string][]*renderState{},
	}
}

// Render is the package's Render, reusing what earlier renders through c
// made from the same content. A nil Cache renders without one.
func (c *Cache) Render(in Input) Output {
	if c == nil {
		return Render(in)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	out := renderIncremental(in, c)
	c.treeSize = len(out.Tree)
	c.evict()
	return out
}

// Hold promises that no CRD object rendered through c is modified until
// the returned release is called: a CRD seen again while held (the same
// versions slice, names, scope, conversion and annotations map, by
// staterepo identity) is found by that identity, not encoded and hashed
// again. Call release in the function that called Hold (defer it), so the
// promise never outlives the code that keeps it. The backend's plan holds
// the cache while it renders main, each step and each branch from the same
// objects (plan.Decisions.Render).
func (c *Cache) Hold() (release func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	held := map[crdIdentity]*cachedCRD{}
	c.held = held
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.held != nil && staterepo.MapIdentity(c.held) == staterepo.MapIdentity(held) {
			c.held = nil
		}
	}
}

// Keep promises that crd is never modified, by anyone: it is found by its
// identity from now on, held or not, until the renders have not used it
// for a while. The backend keeps the CRDs it reads back from main's export
// files, which it owns.
func (c *Cache) Keep(crd *apiextensionsv1.CustomResourceDefinition) {
	if len(crd.Spec.Versions) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.kept == nil {
		c.kept = map[crdIdentity]*cachedCRD{}
	}
	id := identityOf(crd)
	if _, ok := c.kept[id]; !ok {
		c.kept[id] = c.crd(crd)
	}
}

// crdIdentity is a CRD object's identity while a Cache is held.
type crdIdentity struct {
	versions                 staterepo.Identity
	name, group, plural      string
	kind, singular, listKind string
	scope                    apiextensionsv1.ResourceScope
	conversion               *apiextensionsv1.CustomResourceConversion
	annotations              staterepo.Identity
	preserve                 bool
}

func identityOf(crd *apiextensionsv1.CustomResourceDefinition) crdIdentity {
	return crdIdentity{
		versions: staterepo.SliceIdentity(crd.Spec.Versions),
		name:     crd.Name, group: crd.Spec.Group, plural: crd.Spec.Names.Plural,
		kind: crd.Spec.Names.Kind, singular: crd.Spec.Names.Singular, listKind: crd.Spec.Names.ListKind,
		scope: crd.Spec.Scope, conversion: crd.Spec.Conversion,
		annotations: staterepo.MapIdentity(crd.Annotations), preserve: crd.Spec.PreserveUnknownFields,
	}
}

// SchemaHash returns the schema hash of crd's snapshot, "" when it cannot
// be snapshotted: schema.Hash(schema.Snapshot(crd)), made once per content
// and shared with the renders that export crd.
func (c *Cache) SchemaHash(crd *apiextensionsv1.CustomResourceDefinition) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.crd(crd).hash
}

// Len returns the number of entries the cache holds (for tests and metrics).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.crds) + len(c.tpls) + len(c.shapes) + len(c.files) + len(c.clusters)
}

// evict drops every entry that none of the last cacheKeepRenders renders used.
func (c *Cache) evict() {
	stale := func(used uint64) bool { return used+cacheKeepRenders <= c.gen }
	for k, e := range c.crds {
		if stale(e.used) {
			delete(c.crds, k)
		}
	}
	for k, e := range c.tpls {
		if stale(e.used) {
			delete(c.tpls, k)
		}
	}
	for k, e := range c.shapes {
		if stale(e.used) {
			delete(c.shapes, k)
		}
	}
	for k, e := range c.files {
		if stale(e.used) {
			delete(c.files, k)
		}
	}
	for k, e := range c.clusters {
		if stale(e.used) {
			delete(c.clusters, k)
		}
	}
	for k, e := range c.kept {
		if stale(e.used) {
			delete(c.kept, k)
		}
	}
	for k, states := range c.states {
		keep := states[:0:0]
		for _, s := range states {
			if !stale(s.used) {
				keep = append(keep, s)
			}
		}
		if len(keep) == 0 {
			delete(c.states, k)
		} else {
			c.states[k] = keep
		}
	}
}

func (c *Cache) nextID() uint64 {
	c.lastID++
	return c.lastID
}

// cachedCRD is what a CRD's content gives: its snapshot, schema hash and the
// CRD app clusters get (without bindsync's annotations), or why it cannot be
// exported. Treat every field as read-only.
type cachedCRD struct {
	id     uint64
	used   uint64
	snap   v1alpha1.CRDSnapshot
	hash   string
	appCRD *apiextensionsv1.CustomResourceDefinition
	err    error
}

// crdKey is the content key of a CRD: a SHA-256 of the JSON of everything
// schema.Snapshot and validateCRDNames read. Status and the rest of metadata
// (resourceVersion, managedFields, labels) do not change a snapshot.
func crdKey(crd *apiextensionsv1.CustomResourceDefinition) ([sha256.Size]byte, error) {
	b, err := json.Marshal(struct {
		Name        string                                        `json:"name"`
		Annotations map[string]string                             `json:"annotations"`
		Spec        *apiextensionsv1.CustomResourceDefinitionSpec `json:"spec"`
	}{crd.Name, crd.Annotations, &crd.Spec})
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("encode CRD %s: %w", crd.Name, err)
	}
	return sha256.Sum256(b), nil
}

// cachedTemplate numbers one template content (name and spec).
type cachedTemplate struct {
	id   uint64
	used uint64
}

func templateKey(tpl *v1alpha1.APIServiceExportTemplate) (string, error) {
	b, err := json.Marshal(&tpl.Spec)
	if err != nil {
		return "", fmt.Errorf("encode template %s: %w", tpl.Name, err)
	}
	return tpl.Name + "\x00" + string(b), nil
}

// crdShape is what a cluster's small files read of a bound CRD: its name
// (kustomization, paths) and the group, plural and scope its RBAC grants.
type crdShape struct {
	name, group, plural string
	scope               apiextensionsv1.ResourceScope
}

type cachedShape struct {
	id   uint64
	used uint64
}

// fileKey names the export and CRD files of one (CRD, template).
type fileKey struct{ crd, template uint64 }

type cachedFiles struct {
	used        uint64
	export, crd []byte
}

// cachedCluster is one cluster's own files, found by its name and, per
// binding, the numbers of its template and CRD shape (renderer.clusterFiles): paths[i] holds files[i] for the
// first len(files) paths; then each binding's export and CRD paths follow,
// two per binding in binding order.
type cachedCluster struct {
	used  uint64
	paths []string
	files [][]byte
}

// crd returns the snapshot, hash and app CRD of crd, made once per content.
// A CRD whose content cannot be encoded is made afresh and not kept (its
// snapshot fails the same way and says why).
func (c *Cache) crd(crd *apiextensionsv1.CustomResourceDefinition) *cachedCRD {
	held := c.held != nil && len(crd.Spec.Versions) > 0
	var id crdIdentity
	if held || len(c.kept) > 0 {
		id = identityOf(crd)
		if e, ok := c.kept[id]; ok {
			e.used = c.gen
			return e
		}
	}
	if held {
		if e, ok := c.held[id]; ok {
			e.used = c.gen
			return e
		}
	}
	key, err := crdKey(crd)
	if err == nil {
		if e, ok := c.crds[key]; ok {
			e.used = c.gen
			if held {
				c.held[id] = e
			}
			return e
		}
	}
	e := &cachedCRD{id: c.nextID(), used: c.gen}
	e.snap, e.err = schema.Snapshot(crd)
	if e.err == nil {
		e.hash, e.err = schema.Hash(e.snap)
	}
	if e.err == nil {
		e.appCRD, e.err = schema.ToCRD(e.snap)
	}
	if err == nil {
		c.crds[key] = e
		if held {
			c.held[id] = e
		}
	}
	return e
}

// template returns the number of tpl's content.
func (c *Cache) template(tpl *v1alpha1.APIServiceExportTemplate) uint64 {
	key, err := templateKey(tpl)
	if err != nil {
		return c.nextID() // never shared: nothing made from it is found again
	}
	e, ok := c.tpls[key]
	if !ok {
		e = &cachedTemplate{id: c.nextID()}
		c.tpls[key] = e
	}
	e.used = c.gen
	return e.id
}

// shape returns the number of a CRD shape.
func (c *Cache) shape(s crdShape) uint64 {
	e, ok := c.shapes[s]
	if !ok {
		e = &cachedShape{id: c.nextID()}
		c.shapes[s] = e
	}
	e.used = c.gen
	return e.id
}
