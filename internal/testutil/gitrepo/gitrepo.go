// Package gitrepo is a state repository on disk for tests: a work tree on
// branch main, written file by file and committed through go-git, read by
// the code under test over file://.
package gitrepo

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/require"
)

// Repo is a repository with a work tree in a test's temporary folder.
type Repo struct {
	tb   testing.TB
	Dir  string
	Repo *gogit.Repository
	// When is the commits' author and committer time; zero: the clock.
	When time.Time
}

// New initialises a repository whose default branch is main.
func New(tb testing.TB) *Repo {
	tb.Helper()
	dir := tb.TempDir()
	repo, err := gogit.PlainInitWithOptions(dir, &gogit.PlainInitOptions{
		InitOptions: gogit.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	require.NoError(tb, err, "init test repository %s", dir)
	return &Repo{tb: tb, Dir: dir, Repo: repo}
}

// URL is the repository's file:// URL.
func (r *Repo) URL() string { return "file://" + r.Dir }

// Write writes files (path -> content) into the work tree.
func (r *Repo) Write(files map[string]string) {
	r.tb.Helper()
	for p, c := range files {
		full := filepath.Join(r.Dir, filepath.FromSlash(p))
		require.NoError(r.tb, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(r.tb, os.WriteFile(full, []byte(c), 0o644))
	}
}

// Remove deletes paths from the work tree.
func (r *Repo) Remove(paths ...string) {
	r.tb.Helper()
	for _, p := range paths {
		require.NoError(r.tb, os.Remove(filepath.Join(r.Dir, filepath.FromSlash(p))))
	}
}

// Clear deletes every file of the work tree.
func (r *Repo) Clear() {
	r.tb.Helper()
	entries, err := os.ReadDir(r.Dir)
	require.NoError(r.tb, err)
	for _, e := range entries {
		if e.Name() != ".git" {
			require.NoError(r.tb, os.RemoveAll(filepath.Join(r.Dir, e.Name())))
		}
	}
}

// Commit stages every change of the work tree (removals included) and
// commits it with msg on main, signed with key when not nil; a commit with
// no change is made too.
func (r *Repo) Commit(msg string, key *openpgp.Entity) plumbing.Hash {
	r.tb.Helper()
	wt, err := r.Repo.Worktree()
	require.NoError(r.tb, err)
	require.NoError(r.tb, wt.AddWithOptions(&gogit.AddOptions{All: true}))
	when := r.When
	if when.IsZero() {
		when = time.Now()
	}
	sig := &object.Signature{Name: "bindsync test", Email: "test@bindsync.invalid", When: when}
	h, err := wt.Commit(msg, &gogit.CommitOptions{Author: sig, Committer: sig, SignKey: key, AllowEmptyCommits: true})
	require.NoError(r.tb, err, "commit %q", msg)
	return h
}

// Bare makes a bare repository at dir (as a forge or ssh server holds it)
// whose main has one empty commit, pushed by the git CLI, and returns that
// commit's hash as git prints it.
func Bare(tb testing.TB, dir string) string {
	tb.Helper()
	work := tb.TempDir()
	for _, args := range [][]string{
		{"init", "-q", "--bare", "-b", "main", dir},
		{"init", "-q", "-b", "main", work},
		{"-C", work, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "--allow-empty", "-m", "first"},
		{"-C", work, "push", "-q", dir, "main"},
	} {
		out, err := exec.Command("git", args...).CombinedOutput()
		require.NoError(tb, err, "git %v: %s", args, out)
	}
	head, err := exec.Command("git", "--git-dir", dir, "rev-parse", "main").Output()
	require.NoError(tb, err)
	return strings.TrimSpace(string(head))
}
