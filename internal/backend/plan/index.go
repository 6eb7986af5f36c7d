package plan

import (
	"bytes"
	"fmt"
	"path"
	"sort"
	"strings"

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
	tree    render.Tree
	exports []exportEntry
	// bound: cluster -> template -> true.
	bound map[string]map[string]bool
	// byPair: template + "\x00" + CRD -> the first export file holding it.
	byPair map[string]exportEntry
}

func indexTree(t render.Tree) *treeIndex {
	ix := &treeIndex{tree: t, bound: map[string]map[string]bool{}, byPair: map[string]exportEntry{}}
	for _, p := range t.Paths() {
		e, ok := exportOfPath(p)
		if !ok {
			continue
		}
		e.Template = annotation(t[p], v1alpha1.TemplateAnnotation)
		e.Hash = annotation(t[p], v1alpha1.SchemaHashAnnotation)
		if e.Template == "" {
			continue
		}
		ix.exports = append(ix.exports, e)
		if ix.bound[e.Cluster] == nil {
			ix.bound[e.Cluster] = map[string]bool{}
		}
		ix.bound[e.Cluster][e.Template] = true
		if _, seen := ix.byPair[pairKey(e.Template, e.CRD)]; !seen {
			ix.byPair[pairKey(e.Template, e.CRD)] = e
		}
	}
	return ix
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

// exportOfPath recognises clusters/<c>/control-plane/exports/<crd>.yaml.
func exportOfPath(p string) (exportEntry, bool) {
	parts := strings.Split(p, "/")
	if len(parts) != 5 || parts[0] != render.ClustersDir || parts[2] != "control-plane" || parts[3] != "exports" {
		return exportEntry{}, false
	}
	crd, ok := strings.CutSuffix(parts[4], ".yaml")
	if !ok || render.ExportPath(parts[1], crd) != path.Clean(p) {
		return exportEntry{}, false
	}
	return exportEntry{Cluster: parts[1], CRD: crd, Path: p}, true
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
