package source_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/testutil/gitrepo"
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // go test ./... -update
)

// testRepo is a repository on disk that tests commit to and read over
// file:// (internal/testutil/gitrepo).
type testRepo struct {
	g    *gitrepo.Repo
	dir  string
	repo *gogit.Repository
}

func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	g := gitrepo.New(t)
	g.When = time.Unix(1700000000, 0)
	return &testRepo{g: g, dir: g.Dir, repo: g.Repo}
}

func (r *testRepo) url() string { return r.g.URL() }

// commit writes files (path -> content; empty content deletes) and commits.
func (r *testRepo) commit(files map[string]string, key *openpgp.Entity) plumbing.Hash {
	write := map[string]string{}
	for p, c := range files {
		if c == "" {
			r.g.Remove(p)
			continue
		}
		write[p] = c
	}
	r.g.Write(write)
	return r.g.Commit("test", key)
}

func TestGetFetchesOnlyWhenTheHeadMoved(t *testing.T) {
	repo := newTestRepo(t)
	first := repo.commit(map[string]string{
		"clusters/c1/app/kustomization.yaml": "resources: []\n",
		"clusters/c2/app/kustomization.yaml": "other cluster\n",
	}, nil)
	src, err := source.New(source.Options{URL: repo.url(), Dir: "clusters/c1/app"})
	require.NoError(t, err)
	ctx := context.Background()

	snap, fetched, err := src.Get(ctx)
	require.NoError(t, err)
	assert.True(t, fetched, "first Get fetches")
	assert.Equal(t, "main@sha1:"+first.String(), snap.Revision.String())
	assert.Equal(t, []string{"clusters/c1/app/kustomization.yaml"}, keys(snap), "only the agent's folder is read")

	again, fetched, err := src.Get(ctx)
	require.NoError(t, err)
	assert.False(t, fetched, "an unmoved head is not fetched")
	assert.Same(t, snap, again)
	lists, fetches := src.Stats()
	assert.Equal(t, []int64{2, 1}, []int64{lists, fetches})

	second := repo.commit(map[string]string{"clusters/c1/app/crds/a.yaml": "a: 1\n"}, nil)
	snap, fetched, err = src.Get(ctx)
	require.NoError(t, err)
	assert.True(t, fetched, "a new head is fetched")
	assert.Equal(t, second, snap.Revision.Hash)
	assert.Equal(t, "a: 1\n", string(snap.FS["clusters/c1/app/crds/a.yaml"].Data))
}

func TestGetFailures(t *testing.T) {
	repo := newTestRepo(t)
	repo.commit(map[string]string{"clusters/c1/app/kustomization.yaml": "resources: []\n"}, nil)
	ctx := context.Background()

	tests := []struct {
		name string
		opts source.Options
	}{
		{"unreachable remote", source.Options{URL: "file://" + filepath.Join(t.TempDir(), "missing")}},
		{"missing branch", source.Options{URL: repo.url(), Branch: "nope"}},
		{"missing password file", source.Options{URL: "http://127.0.0.1:1/repo", Auth: source.Auth{Username: "agent", PasswordFile: "/nonexistent"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := source.New(tt.opts)
			require.NoError(t, err)
			_, _, err = src.Get(ctx)
			assert.ErrorIs(t, err, source.ErrUnavailable)
		})
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	_, err := source.New(source.Options{})
	assert.Error(t, err, "no URL")
	_, err = source.New(source.Options{URL: "ssh://git@example.com/repo", Auth: source.Auth{SSHKeyFile: "k"}})
	assert.ErrorContains(t, err, "known_hosts")
	for _, url := range []string{"ssh://git@example.com/repo", "git@example.com:repo.git"} {
		_, err = source.New(source.Options{URL: url})
		assert.ErrorContains(t, err, "needs a key file and a known_hosts file", "%s without a key (no ssh-agent, no default known_hosts)", url)
	}
}

func TestSignatureVerification(t *testing.T) {
	trusted, err := openpgp.NewEntity("trusted", "", "trusted@localhost", nil)
	require.NoError(t, err)
	other, err := openpgp.NewEntity("other", "", "other@localhost", nil)
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "trusted.asc")
	require.NoError(t, os.WriteFile(keyFile, armoredPublic(t, trusted), 0o600))
	verifier, err := source.NewOpenPGPVerifier(keyFile)
	require.NoError(t, err)

	tests := []struct {
		name  string
		key   *openpgp.Entity
		valid bool
	}{
		{"head signed by a trusted key is exposed", trusted, true},
		{"unsigned head is refused", nil, false},
		{"head signed by another key is refused", other, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := newTestRepo(t)
			repo.commit(map[string]string{"f": "x"}, tt.key)
			src, err := source.New(source.Options{URL: repo.url(), Verifier: verifier})
			require.NoError(t, err)
			snap, _, err := src.Get(context.Background())
			if tt.valid {
				require.NoError(t, err)
				assert.Contains(t, snap.FS, "f")
				return
			}
			assert.ErrorIs(t, err, source.ErrSignatureInvalid)
			assert.Nil(t, snap)
			_, fetched, err := src.Get(context.Background())
			assert.ErrorIs(t, err, source.ErrSignatureInvalid, "still refused")
			assert.False(t, fetched, "a refused head is not fetched again")
		})
	}
}

func armoredPublic(t *testing.T, e *openpgp.Entity) []byte {
	t.Helper()
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, e.Serialize(w))
	require.NoError(t, w.Close())
	return b.Bytes()
}

func keys(s *source.Snapshot) []string {
	var out []string
	for k := range s.FS {
		out = append(out, k)
	}
	return out
}

func TestGetFollowsARewrittenBranch(t *testing.T) {
	repo := newTestRepo(t)
	repo.commit(map[string]string{"clusters/c1/app/a.yaml": "old\n"}, nil)
	src, err := source.New(source.Options{URL: repo.url(), Dir: "clusters/c1/app"})
	require.NoError(t, err)
	_, _, err = src.Get(context.Background())
	require.NoError(t, err)

	// Rewrite history: main now points at an unrelated root commit, as after
	// a force push of a rebuilt repository.
	out, err := exec.Command("git", "-C", repo.dir, "checkout", "-q", "--orphan", "rewritten").CombinedOutput()
	require.NoError(t, err, string(out))
	rewritten := repo.commit(map[string]string{"clusters/c1/app/a.yaml": "new\n"}, nil)
	require.NoError(t, repo.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName("main"), rewritten)))

	snap, fetched, err := src.Get(context.Background())
	require.NoError(t, err)
	assert.True(t, fetched)
	assert.Equal(t, rewritten, snap.Revision.Hash)
	assert.Equal(t, "new\n", string(snap.FS["clusters/c1/app/a.yaml"].Data))
}

func writeFile(p, content string) error { return os.WriteFile(p, []byte(content), 0o600) }

// TestGetRefusesCommitsOverTheBounds: a fetch that reads more than
// MaxFetchBytes from the remote, a file over MaxFileBytes and files over
// MaxFolderBytes are refused with ErrTooLarge (not ErrUnavailable: the
// commit is at fault), and the head is not fetched again until it moves.
func TestGetRefusesCommitsOverTheBounds(t *testing.T) {
	ctx := context.Background()
	noise := func(n int) string { // incompressible, so the pack is as large
		b := make([]byte, n*3/4)
		_, err := rand.Read(b)
		require.NoError(t, err)
		return base64.StdEncoding.EncodeToString(b)
	}
	tests := []struct {
		name string
		opts source.Options
	}{
		{name: "fetch", opts: source.Options{MaxFetchBytes: 64 << 10}},
		{name: "file", opts: source.Options{MaxFileBytes: 100 << 10}},
		{name: "folder", opts: source.Options{MaxFolderBytes: 150 << 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newTestRepo(t)
			r.commit(map[string]string{"app/a.yaml": noise(120 << 10), "app/b.yaml": noise(90 << 10)}, nil)
			o := tt.opts
			o.URL, o.Dir = r.url(), "app"
			s, err := source.New(o)
			require.NoError(t, err)
			_, _, err = s.Get(ctx)
			require.ErrorIs(t, err, source.ErrTooLarge)
			assert.NotErrorIs(t, err, source.ErrUnavailable)
			_, fetchesBefore := s.Stats()
			_, _, err = s.Get(ctx)
			require.ErrorIs(t, err, source.ErrTooLarge)
			_, fetchesAfter := s.Stats()
			assert.Equal(t, fetchesBefore, fetchesAfter, "the refused head is not fetched again")
		})
	}
}
