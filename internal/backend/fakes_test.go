package backend

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/staterepo"

	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

// fakeRepo is an in-memory Repo for the phase tests; the integration tests
// run against internal/git.
type fakeRepo struct {
	commits  map[plumbing.Hash]fakeCommit
	refs     map[string]plumbing.Hash
	n        int
	fetchErr error
	pushErr  error
	known    map[string]plumbing.Hash
	// walks counts FindTrailer calls (history walks).
	walks int
	// pushErrFor refuses pushes of one branch (PushBranches).
	pushErrFor map[string]error
	// beforePush runs once before the next push (another writer).
	beforePush func()
	pushes     int
	written    int
}

type fakeCommit struct {
	parent plumbing.Hash
	tree   staterepo.Tree
	msg    staterepo.Message
}

func newFakeRepo() *fakeRepo {
	return &fakeRepo{commits: map[plumbing.Hash]fakeCommit{}, refs: map[string]plumbing.Hash{}}
}

func (f *fakeRepo) Fetch(context.Context) error { return f.fetchErr }

func (f *fakeRepo) Head(branch string) (plumbing.Hash, error) { return f.refs[branch], nil }

func (f *fakeRepo) Branches(prefix string) (map[string]plumbing.Hash, error) {
	out := map[string]plumbing.Hash{}
	for b, h := range f.refs {
		if strings.HasPrefix(b, prefix) {
			out[b] = h
		}
	}
	return out, nil
}

func (f *fakeRepo) Tree(h plumbing.Hash) (staterepo.Tree, error) {
	if h.IsZero() {
		return staterepo.Tree{}, nil
	}
	c, ok := f.commits[h]
	if !ok {
		return nil, fmt.Errorf("no commit %s", h)
	}
	return c.tree, nil
}

// Commit checks dirs as internal/git cannot afford to: a tree that differs
// from parent's outside dirs would lose that difference in git.Repo.CommitDirs.
func (f *fakeRepo) Commit(parent plumbing.Hash, tree staterepo.Tree, dirs []string, files staterepo.Tree, msg staterepo.Message) (plumbing.Hash, bool, error) {
	old, _ := f.Tree(parent)
	if tree == nil && dirs != nil {
		tree = plan.BranchPlan{Dirs: dirs, Files: files}.TreeOn(old)
	}
	if dirs != nil {
		if err := sameOutside(old, tree, dirs); err != nil {
			return plumbing.ZeroHash, false, fmt.Errorf("commit %q: %w", msg.Subject, err)
		}
	}
	if !parent.IsZero() && staterepo.TreesEqual(old, tree) {
		return parent, false, nil
	}
	f.n++
	h := plumbing.Hash(sha1.Sum([]byte(fmt.Sprint(f.n))))
	f.commits[h] = fakeCommit{parent: parent, tree: tree, msg: msg}
	f.written++
	return h, true, nil
}

func (f *fakeRepo) Push(_ context.Context, branch string, old, new plumbing.Hash) error {
	if f.beforePush != nil {
		fn := f.beforePush
		f.beforePush = nil
		fn()
	}
	if f.pushErr != nil {
		return f.pushErr
	}
	if f.refs[branch] != old {
		return fmt.Errorf("push %s: %w", branch, ErrNonFastForward)
	}
	f.pushes++
	if new.IsZero() {
		delete(f.refs, branch)
		return nil
	}
	f.refs[branch] = new
	return nil
}

func (f *fakeRepo) PushBranches(ctx context.Context, moves []BranchMove) []error {
	errs := make([]error, len(moves))
	for i, m := range moves {
		if err := f.pushErrFor[m.Branch]; err != nil {
			errs[i] = err
			continue
		}
		errs[i] = f.Push(ctx, m.Branch, m.Old, m.New)
	}
	return errs
}

func (f *fakeRepo) KnownHead(b string) (plumbing.Hash, error) { return f.known[b], nil }

func (f *fakeRepo) SetKnownHead(b string, h plumbing.Hash) error {
	if f.known == nil {
		f.known = map[string]plumbing.Hash{}
	}
	f.known[b] = h
	return nil
}

func (f *fakeRepo) IsAncestor(a, h plumbing.Hash, limit int) (bool, error) {
	for i := 0; !h.IsZero() && (limit <= 0 || i < limit); i++ {
		if h == a {
			return true, nil
		}
		h = f.commits[h].parent
	}
	return false, nil
}

func (f *fakeRepo) DirsMatch(h plumbing.Hash, dirs []string, files staterepo.Tree) (bool, error) {
	tree, err := f.Tree(h)
	if err != nil {
		return false, err
	}
	for _, d := range dirs {
		if !staterepo.TreesEqual(sub(tree, d), sub(files, d)) {
			return false, nil
		}
	}
	return true, nil
}

func (f *fakeRepo) Trailers(h plumbing.Hash) ([]staterepo.Trailer, error) {
	c, ok := f.commits[h]
	if !ok {
		return nil, fmt.Errorf("no commit %s", h)
	}
	return c.msg.Trailers, nil
}

func (f *fakeRepo) FindTrailer(head plumbing.Hash, key, value string, limit int) (plumbing.Hash, bool, error) {
	f.walks++
	for h, i := head, 0; !h.IsZero() && i < limit; i++ {
		c := f.commits[h]
		for _, v := range c.msg.Values(key) {
			if v == value {
				return h, true, nil
			}
		}
		h = c.parent
	}
	return plumbing.ZeroHash, false, nil
}

func (f *fakeRepo) ChangedDirs(old, new plumbing.Hash, prefix string) ([]string, error) {
	a, _ := f.Tree(old)
	b, _ := f.Tree(new)
	dirs := map[string]bool{}
	for _, t := range []staterepo.Tree{a, b} {
		for p := range t {
			if rest, ok := strings.CutPrefix(p, prefix+"/"); ok {
				c, _, _ := strings.Cut(rest, "/")
				dirs[path.Join(prefix, c)] = true
			}
		}
	}
	var out []string
	for d := range dirs {
		if old.IsZero() || !staterepo.TreesEqual(sub(a, d), sub(b, d)) {
			if old.IsZero() && len(sub(b, d)) == 0 {
				continue
			}
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out, nil
}

// sameOutside fails when a and b differ at a path outside dirs.
func sameOutside(a, b staterepo.Tree, dirs []string) error {
	inside := func(p string) bool {
		for _, d := range dirs {
			if strings.HasPrefix(p, d+"/") {
				return true
			}
		}
		return false
	}
	for _, t := range []staterepo.Tree{a, b} {
		for p := range t {
			x, inA := a[p]
			y, inB := b[p]
			if !inside(p) && (inA != inB || string(x) != string(y)) {
				return fmt.Errorf("%s differs outside the folders %v said to hold every change", p, dirs)
			}
		}
	}
	return nil
}

func sub(t staterepo.Tree, dir string) staterepo.Tree {
	out := staterepo.Tree{}
	for p, b := range t {
		if strings.HasPrefix(p, dir+"/") {
			out[p] = b
		}
	}
	return out
}

// commit commits tree on top of branch as another writer would.
func (f *fakeRepo) commitOn(branch string, tree staterepo.Tree, subject string) {
	h, _, _ := f.Commit(f.refs[branch], tree, nil, nil, staterepo.Message{Subject: subject})
	f.refs[branch] = h
}

// fakeApplier records what the apply phase did.
type fakeApplier struct {
	applied map[string][]string // cluster -> kinds/names applied last
	pruned  []string            // clusters pruned (keep nil)
	calls   int
	err     error
}

func (a *fakeApplier) Apply(_ context.Context, objs []*unstructured.Unstructured) error {
	a.calls++
	if a.err != nil {
		return a.err
	}
	if a.applied == nil {
		a.applied = map[string][]string{}
	}
	for _, o := range objs {
		c := o.GetLabels()["bindsync.io/cluster"]
		a.applied[c] = append(a.applied[c], o.GetKind()+"/"+o.GetName())
	}
	return nil
}

func (a *fakeApplier) PruneCluster(_ context.Context, cluster string, keep []*unstructured.Unstructured) error {
	if keep == nil {
		a.pruned = append(a.pruned, cluster)
	}
	return a.err
}

func (a *fakeApplier) PruneOtherClusters(context.Context, []string) error { return a.err }

func (a *fakeApplier) RemoveInstanceNamespaces(context.Context, string, []string) ([]KeptNamespace, error) {
	return nil, a.err
}

var errUnreachable = errors.New("dial tcp 127.0.0.1:1: connection refused")
