package check

import (
	"fmt"
	"path"
	"reflect"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/staterepo"
)

func isYAMLPath(p string) bool {
	ext := path.Ext(p)
	return ext == ".yaml" || ext == ".yml"
}

// revision is one side of the repository form: the files of a commit and
// their CRDs, decoded once per distinct blob.
type revision struct {
	name  string // the revision as the user wrote it
	files *git.FileSet
	crds  map[string]map[string]*apiextensionsv1.CustomResourceDefinition // blob ID -> CRDs by name
}

func readRevision(repo, rev string) (*revision, error) {
	files, err := git.ReadFileSetAt(repo, rev, isYAMLPath)
	if err != nil {
		return nil, err
	}
	return &revision{name: rev, files: files, crds: map[string]map[string]*apiextensionsv1.CustomResourceDefinition{}}, nil
}

// crdsAt returns the CRDs in the file at p, nil when there is no such file.
func (r *revision) crdsAt(p string) (map[string]*apiextensionsv1.CustomResourceDefinition, error) {
	id, ok := r.files.Paths[p]
	if !ok {
		return nil, nil
	}
	if crds, ok := r.crds[id]; ok {
		return crds, nil
	}
	data, err := r.files.Blob(id)
	if err != nil {
		return nil, err
	}
	crds, _, err := decodeCRDs(fmt.Sprintf("%s at %s (%s)", p, r.name, staterepo.ShortHash(r.files.Commit, staterepo.ShortDigits)), data)
	if err != nil {
		return nil, err
	}
	r.crds[id] = crds
	return crds, nil
}

// pairKey identifies one exact change: the same CRD going from the same old
// blob to the same new blob, wherever it is stored.
type pairKey struct {
	name, oldBlob, newBlob string
}

// compareRevisions is the repository form: every YAML path whose blob
// differs between from and to is decoded, its CRDs paired by name, and each
// distinct change compared once.
func compareRevisions(repo, from, to string) (report, error) {
	oldRev, err := readRevision(repo, from)
	if err != nil {
		return report{}, err
	}
	newRev, err := readRevision(repo, to)
	if err != nil {
		return report{}, err
	}
	rep := report{From: oldRev.files.Commit, To: newRev.files.Commit}
	groups := map[pairKey]*result{}
	var order []pairKey
	for _, p := range changedPaths(oldRev.files, newRev.files) {
		oldCRDs, err := oldRev.crdsAt(p)
		if err != nil {
			return report{}, err
		}
		newCRDs, err := newRev.crdsAt(p)
		if err != nil {
			return report{}, err
		}
		for _, pr := range pairsAt(oldCRDs, newCRDs) {
			key := pairKey{pr.name, oldRev.files.Paths[p], newRev.files.Paths[p]}
			if g, ok := groups[key]; ok {
				g.Paths = append(g.Paths, p)
				continue
			}
			if pr.old != nil && pr.new != nil && reflect.DeepEqual(pr.old, pr.new) {
				continue // the file changed, this CRD in it did not
			}
			res := newResult(pr.old, pr.new)
			res.Paths = []string{p}
			groups[key] = &res
			order = append(order, key)
		}
	}
	for _, key := range order {
		g := groups[key]
		g.PathCount = len(g.Paths)
		rep.Results = append(rep.Results, *g)
	}
	rep.finish()
	return rep, nil
}

// changedPaths lists, sorted, the paths whose blob differs between a and b
// (present in one only, or with other content).
func changedPaths(a, b *git.FileSet) []string {
	var out []string
	for p, id := range a.Paths {
		if b.Paths[p] != id {
			out = append(out, p)
		}
	}
	for p := range b.Paths {
		if _, ok := a.Paths[p]; !ok {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// crdPair is an old and a new CRD to compare; either may be nil.
type crdPair struct {
	name     string
	old, new *apiextensionsv1.CustomResourceDefinition
}

// pairsAt pairs the CRDs of one path's old and new content: a file with one
// CRD on each side is compared whatever the names (a renamed group is a
// finding, not a deletion); otherwise CRDs are paired by name.
func pairsAt(oldCRDs, newCRDs map[string]*apiextensionsv1.CustomResourceDefinition) []crdPair {
	if len(oldCRDs) == 1 && len(newCRDs) == 1 {
		o, n := only(oldCRDs), only(newCRDs)
		return []crdPair{{name: o.Name + " -> " + n.Name, old: o, new: n}}
	}
	names := map[string]bool{}
	for name := range oldCRDs {
		names[name] = true
	}
	for name := range newCRDs {
		names[name] = true
	}
	out := make([]crdPair, 0, len(names))
	for name := range names {
		out = append(out, crdPair{name: name, old: oldCRDs[name], new: newCRDs[name]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}
