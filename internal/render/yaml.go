package render

import (
	"fmt"
	"sort"
	"strings"

	goyaml "go.yaml.in/yaml/v2"
)

// The per-cluster documents (namespace, kustomizations, role bindings) are
// written once per cluster, so at 1000 clusters their encoding is most of
// a render without a warm Cache. Their shapes are fixed and their values
// are names, so they are written here directly, byte for byte what the
// YAML encoder writes for them (TestDirectYAMLIsTheEncoders). A value the
// direct writer does not know how to write exactly (an empty string, a name
// starting with a digit, anything with characters outside names) sends the
// whole document to the encoder instead.

// directYAML is a document type that can write itself.
type directYAML interface {
	// appendYAML appends the document to b, or returns false when one of
	// its values needs the encoder.
	appendYAML(b []byte) ([]byte, bool)
}

// mustMarshalPlain encodes a value of one of this package's yaml-tagged
// document types.
func mustMarshalPlain(doc any) []byte {
	if d, ok := doc.(directYAML); ok {
		if b, ok := d.appendYAML(make([]byte, 0, 512)); ok {
			return b
		}
	}
	y, err := goyaml.Marshal(doc)
	if err != nil {
		panic(fmt.Sprintf("render: encode %T as YAML: %v", doc, err))
	}
	return y
}

// reservedWords are the words the YAML encoder would read back as a bool or
// null if written plain; it writes them double-quoted.
var reservedWords = map[string]bool{}

func init() {
	for _, w := range []string{"y", "yes", "n", "no", "true", "false", "on", "off", "null"} {
		reservedWords[w] = true
		reservedWords[strings.ToUpper(w[:1])+w[1:]] = true
		reservedWords[strings.ToUpper(w)] = true
	}
}

// maxScalar is the longest scalar written directly: the encoder writes a
// mapping key longer than 128 bytes as a complex key ("? key").
const maxScalar = 128

// scalar appends s as the YAML encoder writes a string value or key: plain
// when s starts with a letter and holds only letters, digits, '-', '.' and
// '/' (nothing YAML resolves to another type, and no indicator),
// double-quoted when it is a reserved word. Any other s, or one longer than
// maxScalar, returns false.
func scalar(b []byte, s string) ([]byte, bool) {
	if s == "" || len(s) > maxScalar || !isLetter(s[0]) {
		return b, false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && (c < '0' || c > '9') && c != '-' && c != '.' && c != '/' {
			return b, false
		}
	}
	if reservedWords[s] {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"'), true
	}
	return append(b, s...), true
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// field appends "<indent><key>: <value>\n".
func field(b []byte, ok bool, indent, key, value string) ([]byte, bool) {
	if !ok {
		return b, false
	}
	b = append(b, indent...)
	b = append(b, key...)
	b = append(b, ": "...)
	b, ok = scalar(b, value)
	return append(b, '\n'), ok
}

// stringMap appends a non-empty map of strings, keys sorted, at indent.
func stringMap(b []byte, ok bool, indent string, m map[string]string) ([]byte, bool) {
	if !ok || len(m) == 0 {
		return b, false
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b = append(b, indent...)
		b, ok = scalar(b, k)
		if !ok {
			return b, false
		}
		b = append(b, ": "...)
		b, ok = scalar(b, m[k])
		if !ok {
			return b, false
		}
		b = append(b, '\n')
	}
	return b, true
}

func (d namespaceDoc) appendYAML(b []byte) ([]byte, bool) {
	ok := true
	b, ok = field(b, ok, "", "apiVersion", d.APIVersion)
	b, ok = field(b, ok, "", "kind", d.Kind)
	b = append(b, "metadata:\n  labels:\n"...)
	b, ok = stringMap(b, ok, "    ", d.Metadata.Labels)
	return field(b, ok, "  ", "name", d.Metadata.Name)
}

func (d kustomizationDoc) appendYAML(b []byte) ([]byte, bool) {
	ok := len(d.Labels) > 0 && len(d.Resources) > 0
	b, ok = field(b, ok, "", "apiVersion", d.APIVersion)
	b, ok = field(b, ok, "", "kind", d.Kind)
	b = append(b, "labels:\n"...)
	for _, l := range d.Labels {
		b = append(b, "- pairs:\n"...)
		b, ok = stringMap(b, ok, "    ", l.Pairs)
	}
	if d.Namespace != "" {
		b, ok = field(b, ok, "", "namespace", d.Namespace)
	}
	b = append(b, "resources:\n"...)
	for _, r := range d.Resources {
		if !ok {
			break
		}
		b = append(b, "- "...)
		b, ok = scalar(b, r)
		b = append(b, '\n')
	}
	return b, ok
}

func (d roleBindingDoc) appendYAML(b []byte) ([]byte, bool) {
	ok := len(d.Subjects) > 0
	b, ok = field(b, ok, "", "apiVersion", d.APIVersion)
	b, ok = field(b, ok, "", "kind", d.Kind)
	b = append(b, "metadata:\n"...)
	b, ok = field(b, ok, "  ", "name", d.Metadata.Name)
	b = append(b, "roleRef:\n"...)
	b, ok = field(b, ok, "  ", "apiGroup", d.RoleRef.APIGroup)
	b, ok = field(b, ok, "  ", "kind", d.RoleRef.Kind)
	b, ok = field(b, ok, "  ", "name", d.RoleRef.Name)
	b = append(b, "subjects:\n"...)
	for _, s := range d.Subjects {
		b, ok = field(b, ok, "", "- kind", s.Kind)
		b, ok = field(b, ok, "  ", "name", s.Name)
		b, ok = field(b, ok, "  ", "namespace", s.Namespace)
	}
	return b, ok
}
