package check_test

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"testing"
	"time"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// plumbingRepo writes commits straight into the object store, the way the
// backend writes the state repository; it is fast enough for thousands of
// paths.
type plumbingRepo struct {
	t    testing.TB
	dir  string
	repo *gogit.Repository
	head plumbing.Hash
}

func newPlumbingRepo(t testing.TB) *plumbingRepo {
	dir := t.TempDir()
	repo, err := gogit.PlainInit(dir, true)
	require.NoError(t, err)
	return &plumbingRepo{t: t, dir: dir, repo: repo}
}

func (p *plumbingRepo) store(obj plumbing.EncodedObject) plumbing.Hash {
	h, err := p.repo.Storer.SetEncodedObject(obj)
	require.NoError(p.t, err)
	return h
}

func (p *plumbingRepo) blob(content string) plumbing.Hash {
	obj := p.repo.Storer.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	w, err := obj.Writer()
	require.NoError(p.t, err)
	_, err = w.Write([]byte(content))
	require.NoError(p.t, err)
	require.NoError(p.t, w.Close())
	return p.store(obj)
}

// tree writes the tree of files (slash path -> blob) and returns its hash.
func (p *plumbingRepo) tree(files map[string]plumbing.Hash) plumbing.Hash {
	blobs := map[string]plumbing.Hash{}
	subdirs := map[string]map[string]plumbing.Hash{}
	for f, h := range files {
		dir, rest, nested := strings.Cut(f, "/")
		if !nested {
			blobs[dir] = h
			continue
		}
		if subdirs[dir] == nil {
			subdirs[dir] = map[string]plumbing.Hash{}
		}
		subdirs[dir][rest] = h
	}
	var entries []object.TreeEntry
	for name, h := range blobs {
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: h})
	}
	for name, sub := range subdirs {
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: p.tree(sub)})
	}
	// Git orders entries by name, a directory as if its name ended in "/".
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(entries, func(i, j int) bool { return key(entries[i]) < key(entries[j]) })
	obj := p.repo.Storer.NewEncodedObject()
	require.NoError(p.t, (&object.Tree{Entries: entries}).Encode(obj))
	return p.store(obj)
}

// commit records files as the next commit on master and returns its hash.
func (p *plumbingRepo) commit(msg string, files map[string]plumbing.Hash) string {
	sig := object.Signature{Name: "bindsync test", Email: "test@bindsync.invalid", When: time.Unix(1700000000, 0)}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: p.tree(files)}
	if !p.head.IsZero() {
		c.ParentHashes = []plumbing.Hash{p.head}
	}
	obj := p.repo.Storer.NewEncodedObject()
	require.NoError(p.t, c.Encode(obj))
	p.head = p.store(obj)
	require.NoError(p.t, p.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName("master"), p.head)))
	return p.head.String()
}

// thousandClusters builds a state repository of n clusters that all bind the
// postgresql CRD, each with its own kustomization, and a second commit with
// a breaking schema change in every cluster.
func thousandClusters(t testing.TB, n int, pg, pgChanged string) (repo *plumbingRepo, from, to string) {
	repo = newPlumbingRepo(t)
	oldBlob, newBlob := repo.blob(pg), repo.blob(pgChanged)
	first, second := map[string]plumbing.Hash{}, map[string]plumbing.Hash{}
	for i := range n {
		dir := fmt.Sprintf("clusters/c%04d/app", i)
		kust := repo.blob(fmt.Sprintf("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: bindsync-c%04d\n", i))
		first[path.Join(dir, "kustomization.yaml")], second[path.Join(dir, "kustomization.yaml")] = kust, kust
		first[path.Join(dir, "crds", pgFile)], second[path.Join(dir, "crds", pgFile)] = oldBlob, newBlob
	}
	return repo, repo.commit("bind", first), repo.commit("schema change", second)
}

func TestCheckRepositoryWithAThousandClustersComparesEachChangeOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 1000-cluster repository (seconds); runs without -short")
	}
	const n = 1000
	repo, from, to := thousandClusters(t, n, readCRD(t, pgFile), pgBreaking(t))

	start := time.Now()
	code, stdout, stderr := run("check", "--repo", repo.dir, "--from", from, "--to", to, "-o", "json")
	elapsed := time.Since(start)
	require.Equal(t, 1, code, stderr)
	r := decode(t, stdout)
	require.Len(t, r.Results, 1, "one result for one blob change, however many paths")
	assert.Equal(t, n, r.Results[0].PathCount)
	assert.Len(t, r.Results[0].Paths, n)
	assert.Equal(t, 1, r.Breaking)
	assert.Equal(t, []string{"field-removed"}, r.Results[0].BreakingRules)
	t.Logf("bindsync check over %d clusters took %s", n, elapsed)

	code, stdout, _ = run("check", "--repo", repo.dir, "--from", from, "--to", to)
	require.Equal(t, 1, code)
	assert.Contains(t, stdout, fmt.Sprintf("(modified at %d paths: clusters/c0000/app/crds/%s, ", n, pgFile))
	assert.Contains(t, stdout, fmt.Sprintf("and %d more)", n-3))
	assert.Equal(t, 1, strings.Count(stdout, "field-removed  breaking"), "the finding is listed once:\n%s", stdout)
}

func BenchmarkCheckRepository1000Clusters(b *testing.B) {
	pg, err := readFileB(pgFile)
	require.NoError(b, err)
	changed := strings.Replace(pg, "                  maxConnections:\n", "                  maxConnectionsRenamed:\n", 1)
	repo, from, to := thousandClusters(b, 1000, pg, changed)
	b.ReportAllocs()
	for b.Loop() {
		if code, _, stderr := run("check", "--repo", repo.dir, "--from", from, "--to", to, "-o", "json"); code != 1 {
			b.Fatalf("exit %d: %s", code, stderr)
		}
	}
}
