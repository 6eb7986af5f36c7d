package render

import (
	"bytes"
	"errors"
	"path"
	"slices"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Keep returns tree with what holds keep taken from last, the tree written
// before. tree and last are not modified; the result shares their byte
// slices. With no holds it returns tree itself.
//
// A hold of a whole cluster (Hold.Whole) gives that cluster exactly the
// files it has in last (none, when last has none). Any other hold keeps,
// in its cluster, the export files of last it covers and their CRD files
// (main's bytes, as they are); every other export of the cluster is the
// new render's. The cluster's Role and kustomizations are then made again
// from the exports the folder ends up with, so each kept export keeps its
// share of the Role as last granted it, and every other grant is exactly
// what the new render grants: a revoked or narrowed grant is narrowed even
// while something else of the cluster is held. Two cases fall back to the
// whole folder of last: the new render has no folder for the cluster (its
// AppCluster is gone while a request of it is bad), and a kept export that
// cannot be read back while the new render has nothing at its path to
// take its grants from.
func Keep(tree, last staterepo.Tree, holds []Hold) staterepo.Tree {
	if len(holds) == 0 {
		return tree
	}
	byCluster := map[string][]Hold{}
	for _, h := range holds {
		byCluster[h.Cluster] = append(byCluster[h.Cluster], h)
	}
	whole := map[string]bool{}
	folders := map[string]staterepo.Tree{} // cluster -> its folder, made again
	// one pass over each tree finds the folders of the held clusters: a
	// template bound by a thousand clusters holds a thousand of them
	treeOf, lastOf := clusterFolders(tree, byCluster), clusterFolders(last, byCluster)
	dec := newExportDecoder()
	for c, hs := range byCluster {
		if slices.ContainsFunc(hs, Hold.Whole) {
			whole[c] = true
			continue
		}
		folder, ok := keepObjects(treeOf[c], lastOf[c], c, hs, dec)
		switch {
		case !ok:
			whole[c] = true
		case folder != nil:
			folders[c] = folder
		}
	}
	if len(whole) == 0 && len(folders) == 0 {
		return tree
	}
	kept := make(staterepo.Tree, len(tree))
	for p, b := range tree {
		c := clusterOfPath(p)
		if !whole[c] && folders[c] == nil {
			kept[p] = b
		}
	}
	for p, b := range last {
		if whole[clusterOfPath(p)] {
			kept[p] = b
		}
	}
	for _, f := range folders {
		for p, b := range f {
			kept[p] = b
		}
	}
	return kept
}

// keptExport is one export file of a folder being made again.
type keptExport struct {
	crd      string // its CRD's name, from the path
	export   []byte
	crdFile  []byte // nil when the folder has no CRD file for it
	grants   []byte // the export file its share of the Role is read from
	template string
}

// clusterFolders returns the files of t in the folders of the clusters of
// holds, by cluster.
func clusterFolders(t staterepo.Tree, holds map[string][]Hold) map[string]staterepo.Tree {
	out := make(map[string]staterepo.Tree, len(holds))
	for p, b := range t {
		c := clusterOfPath(p)
		if _, ok := holds[c]; !ok {
			continue
		}
		if out[c] == nil {
			out[c] = staterepo.Tree{}
		}
		out[c][p] = b
	}
	return out
}

// exportDecoder decodes each export file once per byte slice: render and
// git share one slice between every cluster that holds the same file. Its
// renderer serialises each Role once per set of files.
type exportDecoder struct {
	files map[staterepo.Identity]decoded
	r     *renderer
}

func newExportDecoder() *exportDecoder {
	return &exportDecoder{files: map[staterepo.Identity]decoded{}, r: &renderer{roles: map[string]roleEntry{}}}
}

func (d *exportDecoder) renderer() *renderer { return d.r }

// decoded is an export file read back: the template and CRD entries a
// binding of it is made of (one pair per file, so the Role of clusters
// that keep the same files is serialised once), or why it cannot be read.
type decoded struct {
	tpl *templateEntry
	crd *crdEntry
	err error
}

func (d *exportDecoder) decode(b []byte) decoded {
	k := staterepo.SliceIdentity(b)
	r, ok := d.files[k]
	if !ok {
		exp, err := decodeExport(b)
		r.err = err
		if err == nil {
			r.tpl = &templateEntry{tpl: &v1alpha1.APIServiceExportTemplate{
				ObjectMeta: metav1.ObjectMeta{Name: exp.Spec.TemplateRef.Name},
				Spec:       v1alpha1.APIServiceExportTemplateSpec{PermissionClaims: exp.Spec.PermissionClaims},
			}}
			r.crd = &crdEntry{crd: &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: exp.Name}}, snap: exp.Spec.CRDSnapshot}
		}
		d.files[k] = r
	}
	return r
}

// keepObjects makes cluster c's folder again from its files in tree and in
// last: tree's, with the exports of last that hs cover. It returns nil,
// true when nothing is kept (the folder stays tree's), and false when the
// whole folder of last must be kept.
func keepObjects(tree, last staterepo.Tree, c string, hs []Hold, dec *exportDecoder) (staterepo.Tree, bool) {
	exportsDir := staterepo.ControlPlaneDir(c) + "/exports/"
	var held []keptExport
	for p, b := range last {
		name, ok := exportName(p, exportsDir)
		if !ok {
			continue
		}
		tpl := AnnotationValue(b, v1alpha1.TemplateAnnotation)
		if !slices.ContainsFunc(hs, func(h Hold) bool { return h.covers(tpl, name) }) {
			continue
		}
		held = append(held, keptExport{crd: name, export: b, crdFile: last[staterepo.CRDPath(c, name)], grants: b, template: tpl})
	}
	if len(held) == 0 {
		return nil, true
	}
	nsPath := staterepo.ControlPlaneDir(c) + "/namespace.yaml"
	if _, ok := tree[nsPath]; !ok {
		return nil, false
	}
	exports := map[string]keptExport{}
	folder := staterepo.Tree{}
	crdsDir := staterepo.AppDir(c) + "/crds/"
	for p, b := range tree {
		if name, ok := exportName(p, exportsDir); ok {
			exports[name] = keptExport{crd: name, export: b, crdFile: tree[staterepo.CRDPath(c, name)], grants: b}
			continue
		}
		if _, ok := exportName(p, crdsDir); ok {
			continue // each export brings its own CRD file, below
		}
		folder[p] = b
	}
	for _, h := range held {
		if dec.decode(h.grants).err != nil {
			// main's file does not decode: its grants are what the new
			// render grants at that path, or the whole folder is kept
			now, ok := exports[h.crd]
			if !ok {
				return nil, false
			}
			h.grants = now.grants
		}
		exports[h.crd] = h
	}
	cl := &clusterEntry{name: c}
	var resources, crds []string
	for _, name := range sortedKeys(boolSet(exports)) {
		e := exports[name]
		d := dec.decode(e.grants)
		if d.err != nil || d.crd.crd.Name != name {
			return nil, false
		}
		folder[path.Join(exportsDir, name+".yaml")] = e.export
		resources = append(resources, "exports/"+name+".yaml")
		if e.crdFile != nil {
			folder[staterepo.CRDPath(c, name)] = e.crdFile
			crds = append(crds, "crds/"+name+".yaml")
		}
		cl.bindings = append(cl.bindings, binding{template: d.tpl, crd: d.crd})
	}
	// the same files makeClusterFiles writes, from the bindings kept
	r := dec.renderer()
	ns := v1alpha1.ClusterNamespace(c)
	folder[staterepo.ControlPlaneDir(c)+"/rbac.yaml"] = r.rbacYAML(cl)
	folder[staterepo.ControlPlaneDir(c)+"/"+staterepo.KustomizationFile] = kustomization(c, ns,
		append([]string{"namespace.yaml", "serviceaccount.yaml", "rbac.yaml"}, resources...))
	folder[staterepo.AppDir(c)+"/"+staterepo.KustomizationFile] = kustomization(c, "", crds)
	// each instance namespace's Role grants what the kept bindings grant
	_, _, rules := r.roleYAML(cl)
	nsDir := staterepo.NamespacesDir(c) + "/"
	for p := range folder {
		if ns, ok := exportName(p, nsDir); ok && ns+".yaml" != staterepo.KustomizationFile {
			folder[p] = namespaceFile(c, ns, rules)
		}
	}
	return folder, true
}

// exportName returns the CRD name of an export file directly in dir.
func exportName(p, dir string) (string, bool) {
	rest, ok := strings.CutPrefix(p, dir)
	if !ok {
		return "", false
	}
	name, ok := strings.CutSuffix(rest, ".yaml")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	return name, true
}

// decodeExport reads an export file back; a file that decodes but names no
// template or CRD group is not one render wrote.
func decodeExport(b []byte) (*v1alpha1.APIServiceExport, error) {
	var exp v1alpha1.APIServiceExport
	if err := yaml.Unmarshal(b, &exp); err != nil {
		return nil, err
	}
	if exp.Spec.TemplateRef.Name == "" || exp.Spec.CRDSnapshot.Group == "" || exp.Spec.CRDSnapshot.Names.Plural == "" {
		return nil, errNotAnExport
	}
	return &exp, nil
}

var errNotAnExport = errors.New("not an export bindsync renders: no template, group or plural")

// AnnotationValue finds "    <key>: <value>" in a rendered file's metadata:
// render writes sorted keys with block indentation, so an annotation is one
// line. It reads that line alone, so a file that is broken elsewhere still
// names its template; a value that is not a plain scalar is not one
// bindsync wrote.
func AnnotationValue(b []byte, key string) string {
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
