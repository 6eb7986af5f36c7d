package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// GitRepo adapts an internal/git repository to Repo.
//
// It remembers the trees of the last commits it wrote: the next
// reconcile's Tree of main's head is then the tree the plan committed, the
// very slices render.Cache made, not a fresh read of every blob (at 1000
// clusters a read of main costs more than the whole rest of a reconcile),
// and comparing it with the next render costs a pointer comparison per
// unchanged file. A commit's tree never changes, and Tree of a commit this
// adapter wrote gives the files it was given
// (TestBackendCommitsAreTheFullTreeCommit).
func GitRepo(r *git.Repo) Repo { return &gitRepo{r: r} }

type gitRepo struct {
	r *git.Repo

	mu sync.Mutex
	// written are the trees of the last commits written, newest last.
	written []writtenTree
}

type writtenTree struct {
	commit plumbing.Hash
	tree   staterepo.Tree
}

// rememberedTrees bounds the trees kept: main's new head and the approval
// branches a reconcile rebuilt.
const rememberedTrees = 8

func (g *gitRepo) Fetch(ctx context.Context) error                     { return g.r.Fetch(ctx) }
func (g *gitRepo) Head(b string) (plumbing.Hash, error)                { return g.r.Head(b) }
func (g *gitRepo) Branches(p string) (map[string]plumbing.Hash, error) { return g.r.Branches(p) }

func (g *gitRepo) Tree(c plumbing.Hash) (staterepo.Tree, error) {
	if t := g.remembered(c); t != nil {
		return t, nil
	}
	return g.r.Tree(c)
}

func (g *gitRepo) remembered(c plumbing.Hash) staterepo.Tree {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, w := range g.written {
		if w.commit == c {
			return w.tree
		}
	}
	return nil
}

func (g *gitRepo) remember(c plumbing.Hash, t staterepo.Tree) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.written = append(g.written, writtenTree{c, t})
	if n := len(g.written) - rememberedTrees; n > 0 {
		g.written = append(g.written[:0:0], g.written[n:]...)
	}
}

// Commit commits only dirs when it has them: tree equals parent's tree
// outside them (plan.Step.Dirs, computed from the two trees), so the
// commit is the one a full Commit of tree would write.
func (g *gitRepo) Commit(parent plumbing.Hash, tree staterepo.Tree, dirs []string, files staterepo.Tree, msg staterepo.Message) (plumbing.Hash, bool, error) {
	var h plumbing.Hash
	var changed bool
	var err error
	if dirs == nil {
		h, changed, err = g.r.Commit(parent, tree, msg)
	} else {
		if files == nil {
			files = git.FilesUnder(tree, dirs)
		}
		h, changed, err = g.r.CommitDirs(parent, dirs, files, msg)
	}
	if err == nil && changed && tree != nil {
		g.remember(h, tree)
	}
	return h, changed, err
}

func (g *gitRepo) Push(ctx context.Context, branch string, old, new plumbing.Hash) error {
	err := g.r.Push(ctx, branch, old, new)
	if errors.Is(err, git.ErrNonFastForward) {
		return fmt.Errorf("%w: %w", ErrNonFastForward, err)
	}
	return err
}

func (g *gitRepo) PushBranches(ctx context.Context, moves []BranchMove) []error {
	ups := make([]git.BranchUpdate, len(moves))
	for i, m := range moves {
		ups[i] = git.BranchUpdate{Branch: m.Branch, Old: m.Old, New: m.New}
	}
	errs := g.r.PushBranches(ctx, ups)
	for i, err := range errs {
		if errors.Is(err, git.ErrNonFastForward) {
			errs[i] = fmt.Errorf("%w: %w", ErrNonFastForward, err)
		}
	}
	return errs
}

func (g *gitRepo) KnownHead(b string) (plumbing.Hash, error)    { return g.r.KnownHead(b) }
func (g *gitRepo) SetKnownHead(b string, h plumbing.Hash) error { return g.r.SetKnownHead(b, h) }

func (g *gitRepo) IsAncestor(a, h plumbing.Hash, limit int) (bool, error) {
	return g.r.IsAncestor(a, h, limit)
}

func (g *gitRepo) DirsMatch(c plumbing.Hash, dirs []string, files staterepo.Tree) (bool, error) {
	return g.r.DirsMatch(c, dirs, files)
}

func (g *gitRepo) Trailers(commit plumbing.Hash) ([]staterepo.Trailer, error) {
	m, err := g.r.CommitMessage(commit)
	if err != nil {
		return nil, err
	}
	out := make([]staterepo.Trailer, len(m.Trailers))
	for i, t := range m.Trailers {
		out[i] = staterepo.Trailer{Key: t.Key, Value: t.Value}
	}
	return out, nil
}

func (g *gitRepo) FindTrailer(head plumbing.Hash, key, value string, limit int) (plumbing.Hash, bool, error) {
	return g.r.FindTrailer(head, key, value, limit)
}

func (g *gitRepo) ChangedDirs(old, new plumbing.Hash, prefix string) ([]string, error) {
	return g.r.ChangedDirs(old, new, prefix)
}
