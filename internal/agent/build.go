package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/internal/kustomize"
)

// originAnnotation is where kustomize records the file an object came from
// when the kustomization asks for buildMetadata: [originAnnotations].
const originAnnotation = "config.kubernetes.io/origin"

// ErrEmptyBuild marks a folder whose build holds no object. An empty folder
// never removes anything: for a cluster that has no managed CRD it is a
// clean pass (nothing bound yet), otherwise a failed build (see emptyFolder).
var ErrEmptyBuild = errors.New("the build holds no object")

// built is one object of the build with the file it came from.
type built struct {
	obj  *unstructured.Unstructured
	file string // path in the repository, "" when unknown
}

// build runs kustomize on dir of fsys, confined to dir (internal/kustomize
// refuses remote bases and paths that leave it, and runs no plugins). It asks
// kustomize to record each object's file, so refusals can name it, and strips
// that annotation again.
func build(fsys fstest.MapFS, dir string) ([]built, error) {
	withOrigin := fstest.MapFS{}
	for p, f := range fsys {
		withOrigin[p] = f
	}
	kpath := path.Join(dir, "kustomization.yaml")
	if f, ok := fsys[kpath]; ok {
		if data, err := addOriginAnnotations(f.Data); err == nil {
			withOrigin[kpath] = &fstest.MapFile{Data: data, Mode: f.Mode}
		}
	}
	objs, err := kustomize.BuildFS(fs.FS(withOrigin), dir)
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, ErrEmptyBuild)
	}
	out := make([]built, 0, len(objs))
	for _, o := range objs {
		out = append(out, built{obj: o, file: takeOrigin(o, dir)})
	}
	return out, nil
}

// addOriginAnnotations adds originAnnotations to a kustomization's
// buildMetadata; an unparsable file is left as it is for kustomize to report.
func addOriginAnnotations(data []byte) ([]byte, error) {
	var k map[string]any
	if err := yaml.Unmarshal(data, &k); err != nil || k == nil {
		return nil, fmt.Errorf("not a kustomization")
	}
	meta, _ := k["buildMetadata"].([]any)
	for _, m := range meta {
		if m == "originAnnotations" {
			return data, nil
		}
	}
	k["buildMetadata"] = append(meta, "originAnnotations")
	return yaml.Marshal(k)
}

// takeOrigin removes kustomize's origin annotation from o and returns the
// repository path of o's file.
func takeOrigin(o *unstructured.Unstructured, dir string) string {
	ann := o.GetAnnotations()
	origin, ok := ann[originAnnotation]
	if !ok {
		return ""
	}
	delete(ann, originAnnotation)
	if len(ann) == 0 {
		ann = nil
	}
	o.SetAnnotations(ann)
	var v struct {
		Path string `json:"path"`
	}
	if err := yaml.Unmarshal([]byte(origin), &v); err != nil || v.Path == "" || strings.Contains(v.Path, "..") {
		return ""
	}
	return path.Join(dir, v.Path)
}
