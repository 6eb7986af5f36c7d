// Package manifest reads Kubernetes manifests from files — multi-document
// YAML, every document located by file and line — and sorts the objects
// render understands into a render.Input.
package manifest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
)

// Document is one YAML document of a file.
type Document struct {
	// File is the path the document was read from.
	File string
	// Line is the 1-based line the document starts at in File.
	Line int
	// Data is the document's YAML.
	Data []byte
}

// Location returns "file:line".
func (d Document) Location() string { return fmt.Sprintf("%s:%d", d.File, d.Line) }

// SyntaxError is YAML that does not parse. Its message names the file and
// the line in that file (not in the document).
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Problem is a document that parses but is not an object render can use.
type Problem struct {
	Doc Document
	Msg string
}

func (p Problem) String() string { return p.Doc.Location() + ": " + p.Msg }

// SplitDocuments splits a multi-document YAML stream at lines that are
// exactly "---" (optionally followed by a comment) and after document-end
// lines "...", dropping documents that hold only comments and blank lines.
func SplitDocuments(file string, data []byte) []Document {
	var docs []Document
	lines := bytes.SplitAfter(data, []byte("\n"))
	start, cur := 1, []byte(nil)
	flush := func() {
		if hasContent(cur) {
			docs = append(docs, Document{File: file, Line: start, Data: cur})
		}
	}
	for i, l := range lines {
		t := bytes.TrimRight(l, "\r\n")
		if bytes.Equal(t, []byte("---")) || bytes.HasPrefix(t, []byte("--- ")) || bytes.HasPrefix(t, []byte("---\t")) {
			flush()
			start, cur = i+2, nil
			// "--- {kind: ...}" starts the document on the marker's line.
			if rest := bytes.TrimSpace(t[3:]); len(rest) > 0 && rest[0] != '#' {
				start, cur = i+1, append(append([]byte(nil), rest...), '\n')
			}
			continue
		}
		if bytes.Equal(t, []byte("...")) {
			// End of document: what follows starts the next one.
			flush()
			start, cur = i+2, nil
			continue
		}
		cur = append(cur, l...)
	}
	flush()
	return docs
}

func hasContent(b []byte) bool {
	for _, l := range bytes.Split(b, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' {
			return true
		}
	}
	return false
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// JSON converts the document to JSON. YAML that does not parse, or that
// repeats a key in one mapping (which would silently drop one of the values),
// is a *SyntaxError naming the line in the file, not in the document.
func (d Document) JSON() ([]byte, error) {
	j, err := yaml.YAMLToJSONStrict(d.Data)
	if err == nil {
		return j, nil
	}
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	line := d.Line
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		line = d.Line + n - 1
		msg = yamlLine.ReplaceAllString(msg, "line "+strconv.Itoa(line))
	}
	return nil, &SyntaxError{File: d.File, Line: line, Msg: msg}
}

// typeMeta is the part of every object that says what it is.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// Add decodes one document into in. A document that does not parse is a
// *SyntaxError; a document that parses but is no render input, or has fields
// its kind does not know, is a Problem.
func Add(in *render.Input, d Document) (*Problem, error) {
	j, err := d.JSON()
	if err != nil {
		return nil, err
	}
	if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
		return nil, nil
	}
	var tm typeMeta
	if err := yaml.Unmarshal(j, &tm); err != nil {
		return &Problem{Doc: d, Msg: "not a Kubernetes object: " + err.Error()}, nil
	}
	var target any
	switch tm.APIVersion + ", Kind=" + tm.Kind {
	case "apiextensions.k8s.io/v1, Kind=CustomResourceDefinition":
		in.CRDs = append(in.CRDs, apiextensionsv1.CustomResourceDefinition{})
		target = &in.CRDs[len(in.CRDs)-1]
	case v1alpha1.GroupVersion.String() + ", Kind=AppCluster":
		in.Clusters = append(in.Clusters, v1alpha1.AppCluster{})
		target = &in.Clusters[len(in.Clusters)-1]
	case v1alpha1.GroupVersion.String() + ", Kind=APIServiceExportTemplate":
		in.Templates = append(in.Templates, v1alpha1.APIServiceExportTemplate{})
		target = &in.Templates[len(in.Templates)-1]
	case v1alpha1.GroupVersion.String() + ", Kind=APIServiceExportRequest":
		in.Requests = append(in.Requests, v1alpha1.APIServiceExportRequest{})
		target = &in.Requests[len(in.Requests)-1]
	case v1alpha1.GroupVersion.String() + ", Kind=APIServiceNamespace":
		in.Namespaces = append(in.Namespaces, v1alpha1.APIServiceNamespace{})
		target = &in.Namespaces[len(in.Namespaces)-1]
	default:
		return &Problem{Doc: d, Msg: fmt.Sprintf("%s %s is not a render input (want CustomResourceDefinition, AppCluster, APIServiceExportTemplate, APIServiceExportRequest or APIServiceNamespace)", tm.APIVersion, tm.Kind)}, nil
	}
	if err := yaml.UnmarshalStrict(j, target); err != nil {
		dropLast(in, tm.Kind)
		return &Problem{Doc: d, Msg: fmt.Sprintf("%s: %v", tm.Kind, err)}, nil
	}
	return nil, nil
}

func dropLast(in *render.Input, kind string) {
	switch kind {
	case "CustomResourceDefinition":
		in.CRDs = in.CRDs[:len(in.CRDs)-1]
	case "AppCluster":
		in.Clusters = in.Clusters[:len(in.Clusters)-1]
	case "APIServiceExportTemplate":
		in.Templates = in.Templates[:len(in.Templates)-1]
	case "APIServiceExportRequest":
		in.Requests = in.Requests[:len(in.Requests)-1]
	case "APIServiceNamespace":
		in.Namespaces = in.Namespaces[:len(in.Namespaces)-1]
	}
}

// LoadDir reads every .yaml and .yml file under dir (recursively, in path
// order) into a render.Input. It fails on an unreadable directory or file and
// on YAML that does not parse; documents that are no render input come back
// as problems and are left out.
func LoadDir(dir string) (render.Input, []Problem, error) {
	var in render.Input
	var problems []Problem
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && p != dir {
			return filepath.SkipDir
		}
		if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return in, nil, fmt.Errorf("read input %s: %w", dir, err)
	}
	sort.Strings(files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return in, nil, fmt.Errorf("read input: %w", err)
		}
		for _, d := range SplitDocuments(f, data) {
			p, err := Add(&in, d)
			if err != nil {
				return in, nil, err
			}
			if p != nil {
				problems = append(problems, *p)
			}
		}
	}
	return in, problems, nil
}
