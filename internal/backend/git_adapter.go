package backend

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/render"
)

// GitRepo adapts an internal/git repository to Repo.
func GitRepo(r *git.Repo) Repo { return gitRepo{r} }

type gitRepo struct{ r *git.Repo }

func (g gitRepo) Fetch(ctx context.Context) error                     { return g.r.Fetch(ctx) }
func (g gitRepo) Head(b string) (plumbing.Hash, error)                { return g.r.Head(b) }
func (g gitRepo) Tree(c plumbing.Hash) (render.Tree, error)           { return g.r.Tree(c) }
func (g gitRepo) Branches(p string) (map[string]plumbing.Hash, error) { return g.r.Branches(p) }

func (g gitRepo) Commit(parent plumbing.Hash, tree render.Tree, dirs []string, msg plan.Message) (plumbing.Hash, bool, error) {
	m := git.Message{Subject: msg.Subject, Body: msg.Body}
	for _, t := range msg.Trailers {
		m.Trailers = append(m.Trailers, git.Trailer{Key: t.Key, Value: t.Value})
	}
	if dirs == nil {
		return g.r.Commit(parent, tree, m)
	}
	return g.r.CommitDirs(parent, dirs, git.FilesUnder(tree, dirs), m)
}

func (g gitRepo) Push(ctx context.Context, branch string, old, new plumbing.Hash) error {
	err := g.r.Push(ctx, branch, old, new)
	if errors.Is(err, git.ErrNonFastForward) {
		return fmt.Errorf("%w: %w", ErrNonFastForward, err)
	}
	return err
}

func (g gitRepo) FindTrailer(head plumbing.Hash, key, value string, limit int) (plumbing.Hash, bool, error) {
	return g.r.FindTrailer(head, key, value, limit)
}

func (g gitRepo) ChangedDirs(old, new plumbing.Hash, prefix string) ([]string, error) {
	return g.r.ChangedDirs(old, new, prefix)
}
