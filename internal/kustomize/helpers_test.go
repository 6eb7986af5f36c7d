package kustomize

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// Build runs BuildFS on dir, a folder on disk, through an os.Root: symlinks
// that point outside dir are refused, as a Git tree would not hold them.
func Build(dir string) ([]*unstructured.Unstructured, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	defer root.Close()
	objs, err := BuildFS(root.FS(), ".")
	if err != nil {
		return nil, fmt.Errorf("folder %s: %w", dir, err)
	}
	return objs, nil
}

// EncodeYAML writes objects as one multi-document YAML stream, in order.
func EncodeYAML(objs []*unstructured.Unstructured) ([]byte, error) {
	var b strings.Builder
	for i, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(data)
	}
	return []byte(b.String()), nil
}
