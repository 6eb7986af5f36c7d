package plan

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unsafe"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/schema"
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
	tree render.Tree
	// exports are in no particular order.
	exports []exportEntry
	// bound: cluster -> template -> true.
	bound map[string]map[string]bool
	// byPair: template + "\x00" + CRD -> the first export file holding it.
	byPair map[string]exportEntry
}

func indexTree(t render.Tree) *treeIndex {
	ix := &treeIndex{tree: t, bound: map[string]map[string]bool{}, byPair: map[string]exportEntry{}}
	// Export files of one (CRD, template) are the same bytes in every
	// cluster, one shared slice when the tree comes from render.Cache or
	// git: their annotations are read once per slice.
	type annotations struct{ template, hash string }
	seen := map[blobKey]annotations{}
	first := map[[2]string]exportEntry{}
	for p, b := range t {
		e, ok := exportOfPath(p)
		if !ok {
			continue
		}
		k := blobKey{unsafe.SliceData(b), len(b)}
		a, ok := seen[k]
		if !ok {
			a = annotations{annotation(b, v1alpha1.TemplateAnnotation), annotation(b, v1alpha1.SchemaHashAnnotation)}
			seen[k] = a
		}
		e.Template, e.Hash = a.template, a.hash
		if e.Template == "" {
			continue
		}
		ix.exports = append(ix.exports, e)
		if ix.bound[e.Cluster] == nil {
			ix.bound[e.Cluster] = map[string]bool{}
		}
		ix.bound[e.Cluster][e.Template] = true
		// the first export file by path holds the pair, whatever the map's order
		if have, ok := first[[2]string{e.Template, e.CRD}]; !ok || e.Path < have.Path {
			first[[2]string{e.Template, e.CRD}] = e
		}
	}
	for k, e := range first {
		ix.byPair[pairKey(k[0], k[1])] = e
	}
	return ix
}

// blobKey identifies a byte slice by its backing array and length.
type blobKey struct {
	p *byte
	n int
}

// holds reports whether the tree binds template in cluster.
func (ix *treeIndex) holds(cluster, template string) bool { return ix.bound[cluster][template] }

// pair returns the export main holds for (template, CRD).
func (ix *treeIndex) pair(template, crd string) (exportEntry, bool) {
	e, ok := ix.byPair[pairKey(template, crd)]
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
	for c, ts := range ix.bound {
		for t := range ts {
			out = append(out, [2]string{c, t})
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
// (render.ExportPath), cheaply: it is asked about every path of a tree.
func exportOfPath(p string) (exportEntry, bool) {
	rest, ok := strings.CutPrefix(p, render.ClustersDir+"/")
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

// annotation finds "    <key>: <value>" in a rendered file's metadata. The
// renderer writes sorted keys with block indentation, so the annotation is
// one line; a value that is not a plain scalar is not one bindsync wrote.
func annotation(b []byte, key string) string {
	needle := []byte("\n    " + key + ": ")
	i := bytes.Index(b, needle)
	if i < 0 {
		return ""
	}
	rest := b[i+len(needle):]
	if j := bytes.IndexByte(rest, '\n'); j >= 0 {
		rest = rest[:j]
	}
	return strings.Trim(string(rest), `"'`)
}
