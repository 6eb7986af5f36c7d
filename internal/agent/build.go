package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing/fstest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/internal/apply"
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

// frozen is one built object kept between passes: as JSON, a fifth of the
// memory of the decoded object, with a head (apiVersion, kind, namespace and
// name) to order it by, and its file.
type frozen struct {
	data []byte
	head *unstructured.Unstructured
	file string
}

func freeze(b built) (frozen, error) {
	data, err := json.Marshal(b.obj.Object)
	if err != nil {
		return frozen{}, fmt.Errorf("%s: %w", b.obj.GetName(), err)
	}
	head := &unstructured.Unstructured{}
	head.SetAPIVersion(b.obj.GetAPIVersion())
	head.SetKind(b.obj.GetKind())
	head.SetNamespace(b.obj.GetNamespace())
	head.SetName(b.obj.GetName())
	return frozen{data: data, head: head, file: b.file}, nil
}

func freezeAll(objs []built) ([]frozen, error) {
	out := make([]frozen, len(objs))
	for i, b := range objs {
		f, err := freeze(b)
		if err != nil {
			return nil, err
		}
		out[i] = f
	}
	return out, nil
}

// thawAll decodes the objects anew: the caller may change them.
func thawAll(in []frozen) ([]built, error) {
	out := make([]built, len(in))
	for i, f := range in {
		o := &unstructured.Unstructured{}
		if err := o.UnmarshalJSON(f.data); err != nil {
			return nil, fmt.Errorf("%s: %w", f.head.GetName(), err)
		}
		out[i] = built{obj: o, file: f.file}
	}
	return out, nil
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
	apply.Sort(objs) // the build is kept, and applied in batches, in apply order
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
