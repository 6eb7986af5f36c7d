package plan

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/schema"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// exportEntry is one export file of a tree.
type exportEntry struct {
	Cluster, CRD, Template, Hash string
	Path                         string
}

// treeIndex says which (cluster, template, CRD) exports a tree holds. It reads
// only the two annotations of each export file, never the whole file, so an
// index of a thousand clusters costs a scan of their export files' first lines.
type treeIndex struct {
	tree staterepo.Tree
	// clusters: cluster -> its export files (with a template annotation),
	// in no particular order.
	clusters map[string][]exportEntry
	// byPair: template + "\x00" + CRD -> the first export file holding it,
	// made on first use (pairIndex).
	byPair map[string]exportEntry
	// revoked: cluster -> the templates revoked for it (staterepo.RevokedPath).
	revoked map[string][]string
}

// annotations are the two annotations of an export file that an index reads.
type annotations struct{ template, hash string }

// annotationsOf reads them once per byte slice: export files of one (CRD,
// template) are the same bytes in every cluster, one shared slice when the
// tree comes from render.Cache or git.
type annotationsOf map[staterepo.Identity]annotations

func (m annotationsOf) entry(p string, b []byte) (exportEntry, bool) {
	e, ok := exportOfPath(p)
	if !ok {
		return e, false
	}
	k := staterepo.SliceIdentity(b)
	a, ok := m[k]
	if !ok {
		a = annotations{render.AnnotationValue(b, v1alpha1.TemplateAnnotation), render.AnnotationValue(b, v1alpha1.SchemaHashAnnotation)}
		m[k] = a
	}
	e.Template, e.Hash = a.template, a.hash
	return e, e.Template != ""
}

func indexTree(t staterepo.Tree) *treeIndex {
	ix := &treeIndex{tree: t, clusters: map[string][]exportEntry{}, revoked: map[string][]string{}}
	seen := annotationsOf{}
	for p, b := range t {
		if e, ok := seen.entry(p, b); ok {
			ix.clusters[e.Cluster] = append(ix.clusters[e.Cluster], e)
		} else if rv, ok := render.RevocationOfPath(p); ok {
			ix.revoked[rv.Cluster] = append(ix.revoked[rv.Cluster], rv.Template)
		}
	}
	return ix
}

// deriveIndex indexes tree, which holds the same files as base's tree
// outside the folders of changes (render.Output.Changes): only those
// folders are read.
func deriveIndex(base *treeIndex, tree staterepo.Tree, changes []render.ClusterChange) *treeIndex {
	ix := &treeIndex{tree: tree, clusters: make(map[string][]exportEntry, len(base.clusters)+len(changes)), revoked: maps.Clone(base.revoked)}
	if ix.revoked == nil {
		ix.revoked = map[string][]string{}
	}
	for c, es := range base.clusters {
		ix.clusters[c] = es
	}
	seen := annotationsOf{}
	for _, ch := range changes {
		delete(ix.clusters, ch.Cluster)
		delete(ix.revoked, ch.Cluster)
		var es []exportEntry
		for _, p := range ch.After {
			if e, ok := seen.entry(p, tree[p]); ok && e.Cluster == ch.Cluster {
				es = append(es, e)
			} else if rv, ok := render.RevocationOfPath(p); ok && rv.Cluster == ch.Cluster {
				ix.revoked[rv.Cluster] = append(ix.revoked[rv.Cluster], rv.Template)
			}
		}
		if es != nil {
			ix.clusters[ch.Cluster] = es
		}
	}
	return ix
}

// pairIndex returns byPair, making it on first use.
func (ix *treeIndex) pairIndex() map[string]exportEntry {
	if ix.byPair != nil {
		return ix.byPair
	}
	ix.byPair = map[string]exportEntry{}
	for _, es := range ix.clusters {
		for _, e := range es {
			// the first export file by path holds the pair, whatever the map's order
			k := pairKey(e.Template, e.CRD)
			if have, ok := ix.byPair[k]; !ok || e.Path < have.Path {
				ix.byPair[k] = e
			}
		}
	}
	return ix.byPair
}

// holds reports whether the tree binds template in cluster.
func (ix *treeIndex) holds(cluster, template string) bool {
	for _, e := range ix.clusters[cluster] {
		if e.Template == template {
			return true
		}
	}
	return false
}

// isRevoked reports whether the tree revokes template for cluster.
func (ix *treeIndex) isRevoked(cluster, template string) bool {
	return slices.Contains(ix.revoked[cluster], template)
}

// revocations returns every revocation the tree holds.
func (ix *treeIndex) revocations() []render.Revocation {
	var out []render.Revocation
	for c, ts := range ix.revoked {
		for _, t := range ts {
			out = append(out, render.Revocation{Cluster: c, Template: t})
		}
	}
	slices.SortFunc(out, func(a, b render.Revocation) int {
		return compareKeys([2]string{a.Cluster, a.Template}, [2]string{b.Cluster, b.Template})
	})
	return out
}

// pair returns the export main holds for (template, CRD).
func (ix *treeIndex) pair(template, crd string) (exportEntry, bool) {
	e, ok := ix.pairIndex()[pairKey(template, crd)]
	return e, ok
}

// crdOf reads the snapshot of an export back into the CRD render takes.
func (ix *treeIndex) crdOf(e exportEntry) (*apiextensionsv1.CustomResourceDefinition, error) {
	var exp v1alpha1.APIServiceExport
	if err := yaml.Unmarshal(ix.tree[e.Path], &exp); err != nil {
		return nil, fmt.Errorf("read export %s: %w", e.Path, err)
	}
	crd, err := schema.ToCRD(exp.Spec.CRDSnapshot)
	if err != nil {
		return nil, fmt.Errorf("read export %s: %w", e.Path, err)
	}
	return crd, nil
}

// pairs returns every (cluster, template) binding the tree holds, sorted.
func (ix *treeIndex) pairs() [][2]string {
	var out [][2]string
	for c, es := range ix.clusters {
		seen := map[string]bool{}
		for _, e := range es {
			if !seen[e.Template] {
				seen[e.Template] = true
				out = append(out, [2]string{c, e.Template})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][0] != out[j][0] {
			return out[i][0] < out[j][0]
		}
		return out[i][1] < out[j][1]
	})
	return out
}

func pairKey(template, crd string) string { return template + "\x00" + crd }

// exportOfPath recognises clusters/<c>/control-plane/exports/<crd>.yaml
// (staterepo.ExportPath), cheaply: it is asked about every path of a tree.
func exportOfPath(p string) (exportEntry, bool) {
	rest, ok := strings.CutPrefix(p, staterepo.ClustersDir+"/")
	if !ok {
		return exportEntry{}, false
	}
	c, rest, ok := strings.Cut(rest, "/")
	if !ok || c == "" || c == "." || c == ".." {
		return exportEntry{}, false
	}
	rest, ok = strings.CutPrefix(rest, "control-plane/exports/")
	if !ok {
		return exportEntry{}, false
	}
	crd, ok := strings.CutSuffix(rest, ".yaml")
	if !ok || crd == "" || strings.IndexByte(crd, '/') >= 0 {
		return exportEntry{}, false
	}
	return exportEntry{Cluster: c, CRD: crd, Path: p}, true
}
