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

	"github.com/bindsync/bindsync/internal/apply"
	"github.com/bindsync/bindsync/internal/kustomize"
)

// fileBuilds keeps, for a folder whose kustomization has the shape render
// writes — only apiVersion, kind, labels (pairs) and a list of files under
// the folder — each file's objects, frozen (as JSON), by the file's content
// and the labels. A build runs kustomize on the new or changed files only,
// at most chunkFiles files to a run, each run with the same labels: a new
// revision that changes a few CRD files of a few hundred builds those alone
// (a whole build of 211 CRDs took most of a pass's CPU), and a cold start is
// built in runs of chunkFiles files, whose objects are kept by file through
// kustomize's origin annotation. A whole build holds every file's YAML trees
// at once (about 80 MB of heap at its peak for 211 CRDs, against about 25 MB
// in runs of 16 files, for the same allocation and time). Any other
// kustomization is always built whole.
type fileBuilds struct {
	last map[[sha256.Size]byte][]frozen
	// runs counts the kustomize runs of the last build, for tests.
	runs int
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

// runKustomization is the kustomization of one run: the folder's, limited to
// some of its files, with kustomize recording each object's file.
type runKustomization struct {
	renderedKustomization
	BuildMetadata []string `json:"buildMetadata"`
}

// chunkFiles bounds how many files one kustomize run of fileBuilds reads:
// the memory of a run grows with it, and each run has a fixed cost.
const chunkFiles = 16

// renderedShape checks that dir has the rendered shape and returns its
// kustomization and, per resource, the key of its objects: the labels, the
// file's name and its content.
func renderedShape(fsys fstest.MapFS, dir string) (k renderedKustomization, keys [][sha256.Size]byte, ok bool) {
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
// on the new or changed files alone, chunkFiles at a time. ok is false when
// the folder is not of the rendered shape or a run fails or gives a file no
// object, or two files the same object: the caller builds it whole (that
// build says what is wrong). The order is that of a whole build.
func (c *fileBuilds) build(fsys fstest.MapFS, dir string) (objs []frozen, ok bool) {
	c.runs = 0
	k, keys, ok := renderedShape(fsys, dir)
	if !ok {
		return nil, false
	}
	next := map[[sha256.Size]byte][]frozen{}
	var missing []int
	for i, key := range keys {
		if f, done := c.last[key]; done {
			next[key] = f
		} else {
			missing = append(missing, i) // renderedShape made every key unique
		}
	}
	for start := 0; start < len(missing); start += chunkFiles {
		if !c.run(fsys, dir, k, keys, missing[start:min(start+chunkFiles, len(missing))], next) {
			return nil, false
		}
	}

	ids := map[string]bool{}
	heads := make([]*unstructured.Unstructured, 0, len(keys))
	byHead := map[*unstructured.Unstructured]frozen{}
	for _, key := range keys {
		for _, f := range next[key] {
			id := f.head.GroupVersionKind().GroupKind().String() + " " + f.head.GetNamespace() + "/" + f.head.GetName()
			if ids[id] {
				return nil, false // a duplicate across files: the whole build refuses it
			}
			ids[id] = true
			heads = append(heads, f.head)
			byHead[f.head] = f
		}
	}
	c.last = next
	apply.Sort(heads) // the order of a whole build
	objs = make([]frozen, len(heads))
	for i, h := range heads {
		objs[i] = byHead[h]
	}
	return objs, true
}

// run builds the files of k.Resources at indexes in one kustomize run and
// records each file's objects in next.
func (c *fileBuilds) run(fsys fstest.MapFS, dir string, k renderedKustomization, keys [][sha256.Size]byte, indexes []int, next map[[sha256.Size]byte][]frozen) bool {
	c.runs++
	one := runKustomization{renderedKustomization: k, BuildMetadata: []string{"originAnnotations"}}
	one.Resources = nil
	sub := fstest.MapFS{}
	byFile := map[string][]frozen{}
	for _, i := range indexes {
		r := k.Resources[i]
		one.Resources = append(one.Resources, r)
		sub[path.Join(dir, r)] = &fstest.MapFile{Data: fsys[path.Join(dir, r)].Data}
		byFile[path.Join(dir, r)] = nil
	}
	kdata, err := yaml.Marshal(one)
	if err != nil {
		return false
	}
	sub[path.Join(dir, "kustomization.yaml")] = &fstest.MapFile{Data: kdata}
	objs, err := kustomize.BuildFS(sub, dir)
	if err != nil {
		return false
	}
	for _, o := range objs {
		file := takeOrigin(o, dir)
		if _, ours := byFile[file]; !ours {
			return false
		}
		f, err := freeze(built{obj: o, file: file})
		if err != nil {
			return false
		}
		byFile[file] = append(byFile[file], f)
	}
	for _, i := range indexes {
		fileObjs := byFile[path.Join(dir, k.Resources[i])]
		if len(fileObjs) == 0 {
			return false
		}
		next[keys[i]] = fileObjs
	}
	return true
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
