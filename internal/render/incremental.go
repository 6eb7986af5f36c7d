package render

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// A Cache renders at cluster granularity. What one cluster's folder, its
// requests' results and its own problems are made of is its group: the
// AppClusters of its name and the requests of its namespace, read through
// the catalog (every template and CRD, resolved once per render). The Cache
// keeps, per catalog, the last render's tree and, per group, the exact key
// of what the group was rendered from. The next render with the same
// catalog renders only the groups whose key changed and patches a copy of
// the last tree; the rest is taken as it was. Render without a Cache
// renders everything at once (renderWhole), and the two give the same
// output (TestCachedRenderIsRender, TestIncrementalRenderIsRender).

// renderState is the last render through a Cache of one catalog.
type renderState struct {
	used    uint64
	tree    staterepo.Tree
	groups  map[string]*groupState
	results []RequestResult
}

// groupState is what one group rendered to.
type groupState struct {
	// key is everything render read of the group (groupKey); nil when the
	// group holds copies of one object, which are never reused.
	key   []byte
	paths []string // the group's files in tree: its cluster's folder
	// nsPaths and nsFiles are its namespaces folder (namespaceFiles); the
	// last len(nsPaths) of paths.
	nsPaths  []string
	nsFiles  [][]byte
	results  []RequestResult
	problems []Problem
	// entries the group's files came from, marked used when it is reused
	cluster *cachedCluster
	files   []*cachedFiles
	shapes  []*cachedShape
}

// ClusterChange is one cluster folder a Cache's render wrote anew.
type ClusterChange struct {
	Cluster string
	// Before and After are the folder's paths in Output.Base and in
	// Output.Tree (nil when the folder is not in that tree).
	Before, After []string
}

// group collects the objects of one cluster name.
type group struct {
	name     string
	clusters []*v1alpha1.AppCluster
	requests []*v1alpha1.APIServiceExportRequest
	nreq     int // requests counted before they are collected
	revoked  []Revocation
	// namespaces are the APIServiceNamespaces of the cluster's namespace
	namespaces []*v1alpha1.APIServiceNamespace
}

// orphans is the group of requests whose namespace names no cluster.
const orphans = ""

// groupOf returns the group a namespace's requests belong to.
func groupOf(ns string) string {
	c, ok := strings.CutPrefix(ns, v1alpha1.ClusterNamespacePrefix)
	if !ok {
		return orphans
	}
	return c
}

// renderIncremental renders in, reusing the groups of the last render of
// the same catalog whose key did not change. Its steps: key every group,
// pick the kept render that differs least as the base, render the groups
// whose key changed, patch the base's tree and collect the results.
func renderIncremental(in Input, cache *Cache) Output {
	r := newRenderer(in, cache)
	r.indexCRDs()
	r.indexTemplates()
	catalog := r.catalogKey()
	states := cache.states[catalog]
	groups, names := groupsOf(in)

	keys, differ := r.groupKeys(groups, names, states)
	st, fresh := baseState(states, differ, groups)
	st.used = cache.gen
	next, changes, problems, nresults := r.renderChanged(st, groups, names, keys)

	out := Output{Changes: changes}
	if fresh {
		out.Tree, out.Changes = freshTree(next, names, cache.treeSize), nil
	} else {
		out.Tree, out.Base = patchTree(st.tree, next, changes), st.tree
	}

	same := !fresh && len(changes) == 0 && sameGroups(st, next, nresults)
	switch {
	case !same:
		out.Requests = collectResults(next, names, nresults)
		cache.states[catalog] = keepState(states, &renderState{used: cache.gen, tree: out.Tree, groups: next, results: out.Requests})
	case nresults > 0:
		out.Requests = st.results // every group as it was: the same results
	}
	out.Problems, out.Warnings = problems.sorted(), r.warnings.sorted()
	out.Problems = withClusters(in, out.Problems)
	return out
}

// groupKeys returns each group's key (nil when it has none, groupKey), in
// the order of names, and per kept state how many groups differ from it.
// Every key is built in one buffer the cache keeps from render to render;
// a group rendered anew keeps a copy of its key.
func (r *renderer) groupKeys(groups map[string]*group, names []string, states []*renderState) ([][]byte, []int) {
	keys := make([][]byte, len(names))
	differ := make([]int, len(states))
	arena := r.cache.keys[:0]
	for i, name := range names {
		key := r.groupKey(groups[name])
		if key != nil {
			// when the buffer grows, earlier keys stay where they are
			start := len(arena)
			arena = append(arena, key...)
			key = arena[start:len(arena):len(arena)]
			keys[i] = key
		}
		for j, st := range states {
			if old := st.groups[name]; old == nil || key == nil || !bytes.Equal(old.key, key) {
				differ[j]++
			}
		}
	}
	r.cache.keys = arena[:0]
	return keys, differ
}

// baseState returns the kept render of this catalog that differs in the
// fewest groups (differ, plus its groups that are gone), or a new empty
// state and true when none is kept.
func baseState(states []*renderState, differ []int, groups map[string]*group) (*renderState, bool) {
	var st *renderState
	best := -1
	for j, s := range states {
		gone := 0
		for name := range s.groups {
			if groups[name] == nil {
				gone++
			}
		}
		if d := differ[j] + gone; best < 0 || d < best {
			best, st = d, s
		}
	}
	if st == nil {
		return &renderState{groups: map[string]*groupState{}}, true
	}
	return st, false
}

// renderChanged takes over from st every group whose key is unchanged and
// renders the others. It returns every group's state, the cluster folders
// written anew (sorted by cluster), every problem and how many results the
// groups hold.
func (r *renderer) renderChanged(st *renderState, groups map[string]*group, names []string, keys [][]byte) (map[string]*groupState, []ClusterChange, problemList, int) {
	var changes []ClusterChange
	next := make(map[string]*groupState, len(names))
	var problems problemList = r.problems
	nresults := 0
	for i, name := range names {
		key := keys[i]
		old := st.groups[name]
		if old != nil && key != nil && bytes.Equal(old.key, key) {
			old.touch(r.cache)
			next[name] = old
		} else {
			if key != nil {
				key = bytes.Clone(key) // the buffer is the cache's
			}
			gs := r.renderGroup(groups[name])
			gs.key = key
			next[name] = gs
			var before []string
			if old != nil {
				before = old.paths
			}
			if before != nil || gs.paths != nil {
				changes = append(changes, ClusterChange{Cluster: name, Before: before, After: gs.paths})
			}
		}
		problems = append(problems, next[name].problems...)
		nresults += len(next[name].results)
	}
	for name, old := range st.groups {
		if next[name] == nil && old.paths != nil {
			changes = append(changes, ClusterChange{Cluster: name, Before: old.paths})
		}
	}
	slices.SortFunc(changes, func(a, b ClusterChange) int { return strings.Compare(a.Cluster, b.Cluster) })
	return next, changes, problems, nresults
}

// freshTree writes every group's files into a new tree.
func freshTree(next map[string]*groupState, names []string, size int) staterepo.Tree {
	tree := make(staterepo.Tree, max(size, 2))
	tree[staterepo.ReadmePath], tree[staterepo.MarkerPath] = staterepo.Readme(), staterepo.Marker()
	for _, name := range names {
		next[name].write(tree)
	}
	return tree
}

// patchTree returns base with the changed cluster folders written anew:
// base itself when nothing changed, else a copy (base is kept).
func patchTree(base staterepo.Tree, next map[string]*groupState, changes []ClusterChange) staterepo.Tree {
	if len(changes) == 0 {
		return base
	}
	tree := maps.Clone(base)
	for _, ch := range changes {
		for _, p := range ch.Before {
			delete(tree, p)
		}
	}
	for _, ch := range changes {
		if ch.After != nil {
			next[ch.Cluster].write(tree)
		}
	}
	return tree
}

// sameGroups reports whether next holds exactly st's group states, with
// nresults results in all.
func sameGroups(st *renderState, next map[string]*groupState, nresults int) bool {
	if len(next) != len(st.groups) || len(st.results) != nresults {
		return false
	}
	for name, gs := range next {
		if st.groups[name] != gs {
			return false
		}
	}
	return true
}

// collectResults returns the groups' results sorted by namespace and name,
// nil when there are none.
func collectResults(next map[string]*groupState, names []string, nresults int) []RequestResult {
	if nresults == 0 {
		return nil
	}
	out := make([]RequestResult, 0, nresults)
	for _, name := range names {
		out = append(out, next[name].results...)
	}
	if !slices.IsSortedFunc(out, compareResults) {
		slices.SortStableFunc(out, compareResults)
	}
	return out
}

// groupsOf collects the objects of in by cluster name, and returns the
// names sorted.
func groupsOf(in Input) (map[string]*group, []string) {
	groups := make(map[string]*group, len(in.Clusters)+1)
	var names []string
	get := func(name string) *group {
		g := groups[name]
		if g == nil {
			g = &group{name: name}
			groups[name] = g
			names = append(names, name)
		}
		return g
	}
	for i := range in.Clusters {
		c := &in.Clusters[i]
		g := get(c.Name)
		g.clusters = append(g.clusters, c)
	}
	// two passes: count each group's requests, then share out one slice
	// of pointers (appending to each group grew a slice per group)
	var last *group
	owner := make([]*group, len(in.Requests))
	for i := range in.Requests {
		q := &in.Requests[i]
		if last == nil || last.name != groupOf(q.Namespace) {
			last = get(groupOf(q.Namespace))
		}
		owner[i] = last
		last.nreq++
	}
	ptrs := make([]*v1alpha1.APIServiceExportRequest, len(in.Requests))
	for _, g := range groups {
		g.requests, ptrs = ptrs[:0:g.nreq], ptrs[g.nreq:]
	}
	for i, g := range owner {
		g.requests = append(g.requests, &in.Requests[i])
	}
	for _, rv := range in.Revoked {
		if g := groups[rv.Cluster]; g != nil {
			g.revoked = append(g.revoked, rv)
		}
	}
	for i := range in.Namespaces {
		n := &in.Namespaces[i]
		g := get(groupOf(n.Namespace))
		g.namespaces = append(g.namespaces, n)
	}
	slices.Sort(names)
	return groups, names
}

// Key returns a digest of everything a render of in through c reads: the
// catalog (each template's and CRD's content number, their problems and
// warnings) and every group's key, in name order. Two inputs with one Key
// render through c to equal outputs (the same tree bytes, results, problems
// and warnings), as long as c lives: the numbers are c's own. It returns
// false when there is no such digest: a nil Cache, or a group whose key
// compares whole objects (groupKey). The backend keys each approval
// branch's render by it (plan.Memo), and computes it once per plan.
func (c *Cache) Key(in Input) (string, bool) {
	if c == nil {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := newRenderer(in, c)
	r.indexCRDs()
	r.indexTemplates()
	h := sha256.New()
	writePart := func(b []byte) {
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(len(b))))
		h.Write(b)
	}
	writePart([]byte(r.catalogKey()))
	for _, list := range []problemList{r.problems, r.warnings} {
		writePart([]byte(fmt.Sprintf("%d%#v", len(list), list.sorted())))
	}
	groups, names := groupsOf(in)
	for _, name := range names {
		key := r.groupKey(groups[name])
		if key == nil {
			return "", false
		}
		writePart(key)
	}
	return string(h.Sum(nil)), true
}

// keptStates is how many renders of one catalog a Cache keeps: main's,
// and the approval branches' rendered on it, each found again as the
// base of the next.
const keptStates = 3

// keepState adds st to states, dropping the least recently used beyond
// keptStates.
func keepState(states []*renderState, st *renderState) []*renderState {
	out := append(states[:0:0], states...)
	out = append(out, st)
	if len(out) > keptStates {
		lru := 0
		for i, s := range out {
			if s.used < out[lru].used {
				lru = i
			}
		}
		out = append(out[:lru], out[lru+1:]...)
	}
	return out
}

func compareRequests(a, b *v1alpha1.APIServiceExportRequest) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

func compareResults(a, b RequestResult) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// catalogKey is everything a group's render reads of the catalog: per
// template (by name), its content's number, why it cannot be rendered and,
// per CRD it binds, the CRD content's number.
func (r *renderer) catalogKey() string {
	names := make([]string, 0, len(r.templates))
	for n := range r.templates {
		names = append(names, n)
	}
	slices.Sort(names)
	var b []byte
	for _, n := range names {
		t := r.templates[n]
		b = append(b, n...)
		b = append(b, 0)
		b = binary.LittleEndian.AppendUint64(b, t.id)
		b = append(b, t.problem...)
		b = append(b, 0)
		for _, c := range t.crds {
			b = binary.LittleEndian.AppendUint64(b, c.id)
		}
		b = append(b, 0xff)
	}
	return string(b)
}

// groupKey is everything render reads of a group's objects: each cluster's
// name, each request's namespace, name, creation time and template, and
// the templates revoked for the cluster, in input order.
// A group with two AppClusters of one name, or two requests of one name in
// one namespace, compares whole objects (see unique): it gets no key and is
// rendered every time. The key is built in r.keyBuf and valid until the
// next use of it.
func (r *renderer) groupKey(g *group) []byte {
	if len(g.clusters) > 1 {
		return nil
	}
	if !slices.IsSortedFunc(g.requests, compareRequests) {
		slices.SortFunc(g.requests, compareRequests)
	}
	b := append(r.keyBuf[:0], g.name...)
	b = append(b, 0, byte(len(g.clusters)))
	for i, q := range g.requests {
		if i > 0 && q.Namespace == g.requests[i-1].Namespace && q.Name == g.requests[i-1].Name {
			return nil
		}
		b = append(b, q.Namespace...)
		b = append(b, 0)
		b = append(b, q.Name...)
		b = append(b, 0)
		b = binary.LittleEndian.AppendUint64(b, uint64(q.CreationTimestamp.Unix()))
		b = binary.LittleEndian.AppendUint64(b, uint64(q.CreationTimestamp.Nanosecond()))
		b = append(b, q.Spec.TemplateRef.Name...)
		b = append(b, 0)
	}
	b = append(b, 0xff) // no name holds it
	for _, rv := range g.revoked {
		b = append(b, rv.Template...)
		b = append(b, 0)
	}
	b = append(b, 0xff)
	if !slices.IsSortedFunc(g.namespaces, compareNamespaces) {
		slices.SortFunc(g.namespaces, compareNamespaces)
	}
	for i, n := range g.namespaces {
		if i > 0 && compareNamespaces(n, g.namespaces[i-1]) == 0 {
			r.keyBuf = b
			return nil
		}
		b = append(b, n.Namespace...)
		b = append(b, 0)
		b = append(b, n.Name...)
		b = append(b, 0)
		// whether it lost its name to another group's namespace
		b = append(b, r.collide[nsKey{n.Namespace, n.Name}]...)
		b = append(b, 0)
	}
	r.keyBuf = b
	return b
}

func compareNamespaces(a, b *v1alpha1.APIServiceNamespace) int {
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Name, b.Name)
}

// renderGroup renders one group through the catalog r resolved.
func (r *renderer) renderGroup(g *group) *groupState {
	in := Input{Clusters: make([]v1alpha1.AppCluster, len(g.clusters)), Requests: make([]v1alpha1.APIServiceExportRequest, len(g.requests)),
		Revoked: g.revoked, Namespaces: make([]v1alpha1.APIServiceNamespace, len(g.namespaces))}
	for i, n := range g.namespaces {
		in.Namespaces[i] = *n
	}
	for i, c := range g.clusters {
		in.Clusters[i] = *c
	}
	for i, q := range g.requests {
		in.Requests[i] = *q
	}
	child := &renderer{
		in: in, cache: r.cache, crds: r.crds, templates: r.templates,
		byName: map[string]*clusterEntry{}, invalid: map[string]bool{}, roles: r.roles, keyBuf: r.keyBuf,
		collide: r.collide,
	}
	child.indexClusters()
	child.assignRequests()
	child.indexNamespaces()
	gs := &groupState{results: child.results, problems: child.problems}
	for _, c := range child.clusters {
		own := child.clusterFiles(c)
		gs.cluster = own
		gs.paths = own.paths
		if gs.nsPaths, gs.nsFiles = child.namespaceFiles(c); len(gs.nsPaths) > 0 {
			gs.paths = append(slices.Clip(own.paths), gs.nsPaths...)
		}
		for _, b := range c.bindings {
			gs.files = append(gs.files, child.bindingFiles(b))
			child.shapeOf(b.crd)
			gs.shapes = append(gs.shapes, r.cache.shapes[crdShape{name: b.crd.crd.Name, group: b.crd.snap.Group, plural: b.crd.snap.Names.Plural, scope: b.crd.snap.Scope}])
		}
	}
	r.keyBuf = child.keyBuf
	return gs
}

// write puts the group's files into tree.
func (gs *groupState) write(tree staterepo.Tree) {
	if gs.cluster == nil {
		return
	}
	own := gs.cluster
	for i, f := range own.files {
		tree[own.paths[i]] = f
	}
	shared := own.paths[len(own.files):]
	for i, f := range gs.files {
		tree[shared[2*i]] = f.export
		tree[shared[2*i+1]] = f.crd
	}
	for i, p := range gs.nsPaths {
		tree[p] = gs.nsFiles[i]
	}
}

// touch marks the cache entries a reused group's files came from as used,
// as a render of the group would.
func (gs *groupState) touch(c *Cache) {
	if gs.cluster == nil {
		return
	}
	gs.cluster.used = c.gen
	for _, f := range gs.files {
		f.used = c.gen
	}
	for _, e := range gs.shapes {
		e.used = c.gen
	}
}
