package plan

import (
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Memo is what a plan leaves for the next one (Input.Memo), so that a
// reconcile after the backend's own commit does not read main again: the
// index of the main tree the plan ended with, the render it is made of,
// and the CRDs read back from main's export files. Everything in it is
// found by identity (the very map, the very byte slice: staterepo.SameTree,
// staterepo.SliceIdentity), never by a name or a version: a tree a Memo
// knows is a map nobody modifies (render.Cache's output, the plan's own
// trees, the trees internal/git reads), and another tree is indexed afresh
// (docs/caches.md; TestAPlanModifiesNothingItIsGiven). A plan is the same with or without a Memo
// (TestAPlanThroughAMemoIsThePlanWithoutOne).
type Memo struct {
	mu    sync.Mutex
	trees []*ptree
	// crds are the CRDs read back from export files, by the file's bytes;
	// used are the ones the last plan read.
	crds, used map[staterepo.Identity]crdRead
	// hashes are the schema hashes of live CRDs by UID and resourceVersion
	// (an object the API server serves never changes without a new
	// resourceVersion); used the ones the last plan asked for.
	hashes, usedHashes map[[2]string]string
	// requests is the buffer a plan copies the requests it renders into,
	// zeroed (it holds no request alive between plans).
	requests []v1alpha1.APIServiceExportRequest
	// decisions is the Requests slice of a plan handed back (Recycle).
	decisions []RequestDecision
	// pending remembers what the last plan made of each pending request
	// (pendingMemo).
	pending pendingMemo
}

// pendingMemo remembers, per pending request, the approval branch a plan
// rendered for it and what judge found, so that a reconcile whose inputs
// did not change renders no branch again (1000 pending requests cost
// seconds per reconcile, each a render of the whole input).
//
// Key: a branch render reads the base input (render.Cache.Key: every
// template's, CRD's and group's content as render reads it, revocations
// included), the tree main was fetched as, by identity (its index; the
// files a held-back cluster keeps; the tree the plan's steps end with,
// which is made of the fetched tree and the base input alone), and of the
// request its namespace, name, UID, creation time, template and branch
// name. Entries are only made when the plan has no problem of its own
// (those are added to every render).
//
// Lifetime: the entries of one base (the render key and the fetched
// tree); a plan on another base starts empty, and a plan keeps only the
// entries it used. The memo holds the fetched tree, so its identity is
// never that of a later map.
//
// Invariant: a plan through a memo equals the plan without one
// (TestBackendIncrementalPlansAreColdPlans).
type pendingMemo struct {
	base        string
	fetched     staterepo.Tree
	byKey, used map[string]*pendingBranch
}

// pendingBranch is what a plan made of one pending request: its branch
// (nil: nothing to approve, a problem holds it back) and what judge found.
type pendingBranch struct {
	branch   *BranchPlan
	exports  []render.ExportResult
	rendered bool
	kept     bool
	heldBack *render.Problem
	problems []render.Problem
}

// pendingBase starts the pending branches of a plan on base (a render
// key) and the fetched tree: the entries of another base are dropped.
func (m *Memo) pendingBase(base string, fetched staterepo.Tree) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pm := &m.pending
	if pm.base != base || !staterepo.SameTree(pm.fetched, fetched) || len(pm.fetched) != len(fetched) {
		*pm = pendingMemo{base: base, fetched: fetched}
	}
	pm.used = map[string]*pendingBranch{}
}

// pendingBranchOf returns the entry of key on the current base, if any.
func (m *Memo) pendingBranchOf(key string) *pendingBranch {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.pending.byKey[key]
	if e != nil {
		m.pending.used[key] = e
	}
	return e
}

// keepPendingBranch remembers e as key's entry on the current base.
func (m *Memo) keepPendingBranch(key string, e *pendingBranch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.pending.used != nil {
		m.pending.used[key] = e
	}
}

// pendingKey is what a branch render reads of a pending request besides
// the base.
func pendingKey(q *v1alpha1.APIServiceExportRequest, d RequestDecision) string {
	return strings.Join([]string{q.Namespace, q.Name, string(q.UID), q.CreationTimestamp.UTC().Format(time.RFC3339Nano),
		q.Spec.TemplateRef.Name, d.Branch, d.Cluster, d.Template}, "\x00")
}

// Recycle hands p's decisions back to the memo: the caller is done with p
// and reads none of p.Requests again. The next Decide through the memo
// fills that slice instead of allocating one (2 MB at 10,000 requests).
// A plan is recycled at most once; a plan not recycled is never modified.
func (m *Memo) Recycle(p Plan) {
	if m == nil || cap(p.Requests) == 0 {
		return
	}
	d := p.Requests[:cap(p.Requests)]
	clear(d) // holds nothing of the old plan alive
	m.mu.Lock()
	defer m.mu.Unlock()
	if cap(d) > cap(m.decisions) {
		m.decisions = d[:0]
	}
}

// decisionBuffer returns an empty slice for n decisions: the recycled one
// when it is large enough, taken from the memo.
func (m *Memo) decisionBuffer(n int) []RequestDecision {
	if m != nil {
		m.mu.Lock()
		d := m.decisions
		m.decisions = nil
		m.mu.Unlock()
		if cap(d) >= n {
			return d[:0]
		}
	}
	return make([]RequestDecision, 0, n)
}

// requestBuffer returns an empty slice for at least n requests: the memo's
// buffer when it is large enough, and no plan uses it until it is given
// back (putRequestBuffer).
func (m *Memo) requestBuffer(n int) []v1alpha1.APIServiceExportRequest {
	if m != nil {
		m.mu.Lock()
		b := m.requests
		m.requests = nil
		m.mu.Unlock()
		if cap(b) >= n {
			return b[:0]
		}
	}
	return make([]v1alpha1.APIServiceExportRequest, 0, n)
}

// putRequestBuffer gives b, the slice of the buffer a plan used, back to
// the memo, zeroed.
func (m *Memo) putRequestBuffer(b []v1alpha1.APIServiceExportRequest) {
	if m == nil {
		return
	}
	clear(b)
	m.mu.Lock()
	defer m.mu.Unlock()
	if cap(b) > cap(m.requests) {
		m.requests = b[:0]
	}
}

// liveHash returns hash(crd) through the memo when crd carries a UID and a
// resourceVersion.
func (m *Memo) liveHash(crd *apiextensionsv1.CustomResourceDefinition, hash func(*apiextensionsv1.CustomResourceDefinition) string) string {
	if m == nil || crd.UID == "" || crd.ResourceVersion == "" {
		return hash(crd)
	}
	k := [2]string{string(crd.UID), crd.ResourceVersion}
	m.mu.Lock()
	h, ok := m.hashes[k]
	m.mu.Unlock()
	if !ok {
		h = hash(crd)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.usedHashes == nil {
		m.usedHashes = map[[2]string]string{}
	}
	m.usedHashes[k] = h
	return h
}

// crdRead is an export file read back into its CRD, or why it could not be.
type crdRead struct {
	crd *apiextensionsv1.CustomResourceDefinition
	err error
}

// memoTrees bounds the trees a Memo keeps: main as the last plans left it.
const memoTrees = 2

// NewMemo returns an empty Memo.
func NewMemo() *Memo { return &Memo{} }

// ptree is one tree of a plan and what is known of how it was made.
type ptree struct {
	tree staterepo.Tree
	// rendered is the render.Cache output the tree is, plus the files
	// another writer keeps outside clusters/ (nil: not known, or a
	// cluster kept its last good files).
	rendered staterepo.Tree
	// base and changes, when base is set: the tree holds the same files
	// as base.tree outside the cluster folders of changes.
	base    *ptree
	changes []render.ClusterChange
	ix      *treeIndex
	// out are the tree's paths outside clusters/ (nil: not listed yet).
	out []string
}

// outside returns the tree's paths outside clusters/, sorted: its base's
// when it has one (render writes only cluster folders anew).
func (t *ptree) outside() []string {
	if t.out == nil {
		if t.base != nil {
			t.out = t.base.outside()
		} else {
			t.out = []string{}
			for p := range t.tree {
				if !strings.HasPrefix(p, staterepo.ClustersDir+"/") {
					t.out = append(t.out, p)
				}
			}
			sort.Strings(t.out)
		}
	}
	return t.out
}

// index returns the tree's index, derived from its base's when it has one.
func (t *ptree) index() *treeIndex {
	if t.ix == nil {
		if t.base != nil {
			t.ix = deriveIndex(t.base.index(), t.tree, t.changes)
		} else {
			t.ix = indexTree(t.tree)
		}
	}
	return t.ix
}

// sameAs returns t as a tree with the same files as u: u's render is its
// render too, so the next render based on u's compares with t in the
// folders it wrote alone.
func (t *ptree) sameAs(u *ptree) *ptree {
	if u.rendered == nil || staterepo.SameTree(t.rendered, u.rendered) {
		return t
	}
	c := *t
	c.rendered = u.rendered
	return &c
}

// known returns what the memo knows of tree: the plan tree it is, with its
// index, or a fresh ptree. A nil Memo knows nothing.
func (m *Memo) known(tree staterepo.Tree) *ptree {
	if m != nil {
		m.mu.Lock()
		defer m.mu.Unlock()
		for i, t := range m.trees {
			if staterepo.SameTree(t.tree, tree) && len(t.tree) == len(tree) {
				// the most recently used is kept longest
				m.trees = append(append(m.trees[:i:i], m.trees[i+1:]...), t)
				return &ptree{tree: tree, rendered: t.rendered, ix: t.ix, out: t.out}
			}
		}
	}
	return &ptree{tree: tree}
}

// keep remembers t (its index made, its base dropped: a kept tree holds
// nothing older alive).
func (m *Memo) keep(t *ptree) {
	if m == nil {
		return
	}
	ix, out := t.index(), t.outside()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, k := range m.trees {
		if staterepo.SameTree(k.tree, t.tree) {
			m.trees = append(m.trees[:i:i], m.trees[i+1:]...)
			break
		}
	}
	m.trees = append(m.trees, &ptree{tree: t.tree, rendered: t.rendered, ix: ix, out: out})
	if n := len(m.trees) - memoTrees; n > 0 {
		m.trees = append(m.trees[:0:0], m.trees[n:]...)
	}
}

// crdOf reads the CRD of an export file of ix, once per byte slice.
func (m *Memo) crdOf(ix *treeIndex, e exportEntry, cache *render.Cache) (*apiextensionsv1.CustomResourceDefinition, error) {
	if m == nil {
		return ix.crdOf(e)
	}
	b := ix.tree[e.Path]
	k := staterepo.SliceIdentity(b)
	m.mu.Lock()
	r, ok := m.crds[k]
	m.mu.Unlock()
	if !ok {
		r.crd, r.err = ix.crdOf(e)
		if r.err == nil && cache != nil {
			cache.Keep(r.crd) // the memo's own: never modified
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.used == nil {
		m.used = map[staterepo.Identity]crdRead{}
	}
	m.used[k] = r
	return r.crd, r.err
}

// planned ends a plan: the CRDs it did not read are forgotten.
func (m *Memo) planned() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.crds, m.used = m.used, nil
	m.hashes, m.usedHashes = m.usedHashes, nil
	m.pending.byKey, m.pending.used = m.pending.used, nil
}

// copyTree returns a copy of t that the plan may extend.
func copyTree(t staterepo.Tree) staterepo.Tree { return maps.Clone(t) }
