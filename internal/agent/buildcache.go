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

// fileBuilds builds the folder file by file when its kustomization has the
// shape render writes — only apiVersion, kind, labels (pairs) and a list of
// resource files in the folder itself — and remembers each file's objects by
// the file's content and the kustomization's labels. A new revision that
// changes one CRD file of a few hundred then runs kustomize on that file
// alone: kustomize holds a whole folder's YAML trees in memory at once, which
// for 211 CRDs took most of a pass's CPU and about 100 MB. Any other
// kustomization is built whole, as before.
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

// build builds dir of fsys; ok is false when the folder is not of the
// rendered shape, or a file's build fails (the caller builds it whole, and
// that build says what is wrong). The objects are shared with the cache:
// the caller must not change them.
func (c *fileBuilds) build(fsys fstest.MapFS, dir string) (objs []built, ok bool) {
	kpath := path.Join(dir, "kustomization.yaml")
	kf, found := fsys[kpath]
	if !found || hasOtherKustomization(fsys, dir) {
		return nil, false
	}
	var k renderedKustomization
	if err := yaml.UnmarshalStrict(kf.Data, &k); err != nil || k.Kind != "Kustomization" || len(k.Resources) == 0 {
		return nil, false
	}
	for _, l := range k.Labels {
		if len(l.Pairs) == 0 {
			return nil, false
		}
	}
	seen := map[string]bool{}
	for _, r := range k.Resources {
		f, isFile := fsys[path.Join(dir, r)]
		// A plain file under this folder, named once: anything else (a base,
		// a path that leaves the folder, a URL) is the whole build's to check.
		if seen[r] || !isFile || !fs.ValidPath(r) || path.Base(r) == "kustomization.yaml" || f.Mode.Type() != 0 {
			return nil, false
		}
		seen[r] = true
	}

	labels, err := yaml.Marshal(k.Labels)
	if err != nil {
		return nil, false
	}
	next := map[[sha256.Size]byte][]*unstructured.Unstructured{}
	ids := map[string]bool{}
	files := map[*unstructured.Unstructured]string{}
	var all []*unstructured.Unstructured
	for _, r := range k.Resources {
		data := fsys[path.Join(dir, r)].Data
		key := sha256.Sum256(bytes.Join([][]byte{labels, []byte(r), data}, []byte{0}))
		fileObjs, done := c.last[key]
		if !done {
			one := renderedKustomization{APIVersion: k.APIVersion, Kind: k.Kind, Labels: k.Labels, Resources: []string{r}}
			kdata, err := yaml.Marshal(one)
			if err != nil {
				return nil, false
			}
			fileObjs, err = kustomize.BuildFS(fstest.MapFS{kpath: {Data: kdata}, path.Join(dir, r): {Data: data}}, dir)
			if err != nil {
				return nil, false // the whole build says what is wrong, as it always did
			}
		}
		next[key] = fileObjs
		for _, o := range fileObjs {
			id := o.GroupVersionKind().GroupKind().String() + " " + o.GetNamespace() + "/" + o.GetName()
			if ids[id] {
				return nil, false // a duplicate across files: the whole build refuses it
			}
			ids[id] = true
			files[o] = path.Join(dir, r)
			all = append(all, o)
		}
	}
	if len(all) == 0 {
		return nil, false // the whole build says it is empty
	}
	c.last = next
	kustomize.Sort(all) // the order of a whole build
	objs = make([]built, len(all))
	for i, o := range all {
		objs[i] = built{obj: o, file: files[o]}
	}
	return objs, true
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
