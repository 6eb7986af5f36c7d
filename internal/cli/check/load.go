package check

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/bindsync/bindsync/internal/manifest"
)

const crdKind = "CustomResourceDefinition"

// decodeCRDs returns the CRDs among the YAML documents of data, keyed by
// name, and how many documents there were. Documents of other kinds are
// skipped. A document that does not parse, an unsupported CRD apiVersion, or
// a CRD with fields bindsync's CRD types do not know is an error naming
// where: compatibility cannot be judged on a schema that was only partly
// read.
func decodeCRDs(where string, data []byte) (map[string]*apiextensionsv1.CustomResourceDefinition, int, error) {
	docs := manifest.SplitDocuments(where, data)
	out := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, d := range docs {
		j, err := d.JSON()
		if err != nil {
			return nil, 0, fmt.Errorf("YAML does not parse: %w", err)
		}
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := json.Unmarshal(j, &tm); err != nil || tm.Kind != crdKind {
			continue // not an object, or not a CRD
		}
		if tm.APIVersion != apiextensionsv1.SchemeGroupVersion.String() {
			return nil, 0, fmt.Errorf("%s: CRD apiVersion %q is not supported, only %s", d.Location(), tm.APIVersion,
				apiextensionsv1.SchemeGroupVersion.String())
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.DisallowUnknownFields()
		if err := dec.Decode(crd); err != nil {
			return nil, 0, fmt.Errorf("%s: not a valid CRD: %w", d.Location(), err)
		}
		if _, dup := out[crd.Name]; dup {
			return nil, 0, fmt.Errorf("%s: CRD %s appears twice", d.Location(), crd.Name)
		}
		out[crd.Name] = crd
	}
	return out, len(docs), nil
}

// readCRDFile reads the CRDs in a file; a file without any is an error.
func readCRDFile(path string) (map[string]*apiextensionsv1.CustomResourceDefinition, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CRD file: %w", err)
	}
	crds, docs, err := decodeCRDs(path, data)
	if err != nil {
		return nil, err
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("%s: not a CRD file: none of its %d YAML %s is a CustomResourceDefinition", path, docs, plural(docs, "document", "documents"))
	}
	return crds, nil
}

// compareFiles is the file form: OLD and NEW each hold one CRD (compared
// whatever their names) or several (paired by name).
func compareFiles(oldPath, newPath string) (report, error) {
	oldCRDs, err := readCRDFile(oldPath)
	if err != nil {
		return report{}, err
	}
	newCRDs, err := readCRDFile(newPath)
	if err != nil {
		return report{}, err
	}
	var rep report
	if len(oldCRDs) == 1 && len(newCRDs) == 1 {
		rep.Results = append(rep.Results, newResult(only(oldCRDs), only(newCRDs)))
	} else {
		rep.Results = pairByName(oldCRDs, newCRDs, true)
	}
	for i := range rep.Results {
		rep.Results[i].Old, rep.Results[i].New = oldPath, newPath
	}
	rep.finish()
	return rep, nil
}

func only(m map[string]*apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.CustomResourceDefinition {
	for _, crd := range m {
		return crd
	}
	return nil
}

// pairByName compares the CRDs of two sets by name. Unless keepSame is set,
// pairs whose CRDs are equal are left out.
func pairByName(oldCRDs, newCRDs map[string]*apiextensionsv1.CustomResourceDefinition, keepSame bool) []result {
	names := make([]string, 0, len(oldCRDs)+len(newCRDs))
	for name := range oldCRDs {
		names = append(names, name)
	}
	for name := range newCRDs {
		if _, ok := oldCRDs[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var out []result
	for _, name := range names {
		o, n := oldCRDs[name], newCRDs[name]
		if !keepSame && o != nil && n != nil && reflect.DeepEqual(o, n) {
			continue
		}
		out = append(out, newResult(o, n))
	}
	return out
}
