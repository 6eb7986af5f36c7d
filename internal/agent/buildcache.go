package agent

import (
	"bytes"
	"crypto/sha256"
	"io/fs"
	"path"
	"strings"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/internal/kustomize"
)

// fileBuilds keeps, for a folder whose kustomization has the shape render
// writes — only apiVersion, kind, labels (pairs) and a list of files under
// the folder — each file's objects by the file's content and the labels. A
// new revision that changes a few CRD files of a few hundred then runs
// kustomize on those files alone, each with the same labels: a whole build
// of 211 CRDs took most of a pass's CPU (kustomize holds the whole folder's
// YAML trees at once). A cold start, or a revision that changes many files,
// is built whole and its objects kept by file (fill); any other
// kustomization is always built whole.
type fileBuilds struct {
	last map[[sha256.Size]byte][]*unstructured.Unstructured
}

// renderedKustomization is the only kustomization fileBuilds builds file by
// file; a kustomization with any other field does not decode into it.
type renderedKustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels"`
	Resources []string `json:"resources"`
}

// maxFileBuilds bounds how many files build runs kustomize on one by one:
// each run has a fixed cost, so a folder with more new or changed files (a
// cold start) is built whole, and fill keeps that build's objects by file.
const maxFileBuilds = 16

// plan checks that dir has the rendered shape and returns its kustomization
// and, per resource, the key of its objects: the labels, the file's name and
// its content.
func plan(fsys fstest.MapFS, dir string) (k renderedKustomization, keys [][sha256.Size]byte, ok bool) {
	kf, found := fsys[path.Join(dir, "kustomization.yaml")]
	if !found || hasOtherKustomization(fsys, dir) {
		return k, nil, false
	}
	if err := yaml.UnmarshalStrict(kf.Data, &k); err != nil || k.Kind != "Kustomization" || len(k.Resources) == 0 {
		return k, nil, false
	}
	for _, l := range k.Labels {
		if len(l.Pairs) == 0 {
			return k, nil, false
		}
	}
	labels, err := yaml.Marshal(k.Labels)
	if err != nil {
		return k, nil, false
	}
	seen := map[string]bool{}
	for _, r := range k.Resources {
		f, isFile := fsys[path.Join(dir, r)]
		// A plain file under this folder, named once: anything else (a base,
		// a path that leaves the folder, a URL) is the whole build's to check.
		if seen[r] || !isFile || !fs.ValidPath(r) || path.Base(r) == "kustomization.yaml" || f.Mode.Type() != 0 {
			return k, nil, false
		}
		seen[r] = true
		keys = append(keys, sha256.Sum256(bytes.Join([][]byte{labels, []byte(r), f.Data}, []byte{0})))
	}
	return k, keys, true
}

// build builds dir of fsys from the files' kept objects, running kustomize
// on the new or changed files alone. ok is false when the folder is not of
// the rendered shape, when more than maxFileBuilds files are new, or when a
// file's build fails: the caller builds it whole (that build says what is
// wrong) and calls fill. The objects are shared with the cache: the caller
// must not change them.
func (c *fileBuilds) build(fsys fstest.MapFS, dir string) (objs []built, ok bool) {
	k, keys, ok := plan(fsys, dir)
	if !ok {
		return nil, false
	}
	misses := 0
	for _, key := range keys {
		if _, done := c.last[key]; !done {
			misses++
		}
	}
	if misses > maxFileBuilds {
		return nil, false
	}
	kpath := path.Join(dir, "kustomization.yaml")
	next := map[[sha256.Size]byte][]*unstructured.Unstructured{}
	ids := map[string]bool{}
	files := map[*unstructured.Unstructured]string{}
	var all []*unstructured.Unstructured
	for i, r := range k.Resources {
		file := path.Join(dir, r)
		fileObjs, done := c.last[keys[i]]
		if !done {
			one := renderedKustomization{APIVersion: k.APIVersion, Kind: k.Kind, Labels: k.Labels, Resources: []string{r}}
			kdata, err := yaml.Marshal(one)
			if err != nil {
				return nil, false
			}
			fileObjs, err = kustomize.BuildFS(fstest.MapFS{kpath: {Data: kdata}, file: {Data: fsys[file].Data}}, dir)
			if err != nil || len(fileObjs) == 0 {
				return nil, false
			}
		}
		next[keys[i]] = fileObjs
		for _, o := range fileObjs {
			id := o.GroupVersionKind().GroupKind().String() + " " + o.GetNamespace() + "/" + o.GetName()
			if ids[id] {
				return nil, false // a duplicate across files: the whole build refuses it
			}
			ids[id] = true
			files[o] = file
			all = append(all, o)
		}
	}
	c.last = next
	kustomize.Sort(all) // the order of a whole build
	objs = make([]built, len(all))
	for i, o := range all {
		objs[i] = built{obj: o, file: files[o]}
	}
	return objs, true
}

// fill keeps the objects of a whole build of dir by file, when dir has the
// rendered shape and every object names a file of it; otherwise it forgets
// everything. The objects are shared, as build's.
func (c *fileBuilds) fill(fsys fstest.MapFS, dir string, objs []built) {
	c.last = nil
	k, keys, ok := plan(fsys, dir)
	if !ok {
		return
	}
	byFile := map[string][]*unstructured.Unstructured{}
	for _, b := range objs {
		byFile[b.file] = append(byFile[b.file], b.obj)
	}
	next := map[[sha256.Size]byte][]*unstructured.Unstructured{}
	for i, r := range k.Resources {
		file := path.Join(dir, r)
		if len(byFile[file]) == 0 {
			return
		}
		next[keys[i]] = byFile[file]
		delete(byFile, file)
	}
	if len(byFile) > 0 {
		return // objects of no listed file
	}
	c.last = next
}

// hasOtherKustomization reports whether the folder holds a kustomization file
// of another name, or one in a subfolder: kustomize would see those.
func hasOtherKustomization(fsys fstest.MapFS, dir string) bool {
	for p := range fsys {
		if !strings.HasPrefix(p, dir+"/") {
			continue
		}
		base := path.Base(p)
		if (base == "kustomization.yml" || base == "Kustomization" || base == "kustomization.yaml") && p != path.Join(dir, "kustomization.yaml") {
			return true
		}
	}
	return false
}
