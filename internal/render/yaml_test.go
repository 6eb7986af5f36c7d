package render

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	goyaml "go.yaml.in/yaml/v2"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// yamlValues are strings to put in every field of the direct documents:
// every string of one or two characters from names' alphabet (and a few
// more), the words YAML reads as bools or null, numbers, and strings the
// direct writer must leave to the encoder.
func yamlValues() []string {
	alphabet := "abnoyz09-./:_A #"
	var out []string
	for _, a := range alphabet {
		out = append(out, string(a))
		for _, b := range alphabet {
			out = append(out, string(a)+string(b))
		}
	}
	return append(out,
		"", "y", "yes", "n", "no", "true", "false", "on", "off", "null", "Yes", "NO", "True", "~",
		"123", "1e3", "0x1f", "0o17", "0b101", "1_000", ".inf", ".nan", "2001-12-14", "12:30:45",
		"cluster-0001", "bindsync-c1", "bindsync:c1:agent", "exports/postgresqlinstances.anynines.com.yaml",
		"Y", "N", "On", "OFF", "Null", "FALSE", "Kustomization", "RoleBinding",
		strings.Repeat("k", 128), strings.Repeat("k", 129),
		"a-", "-a", "a:", "a: b", "a #b", "a\nb", "é", "a\"b", strings.Repeat("abc-", 40),
		"pod-security.kubernetes.io/enforce", "restricted", "kustomize.config.k8s.io/v1beta1")
}

// TestDirectYAMLIsTheEncoders writes each per-cluster document with every
// value in every field, directly and through the YAML encoder: the bytes
// must be the same, and the direct path must be the one taken for names.
func TestDirectYAMLIsTheEncoders(t *testing.T) {
	direct := 0
	for _, v := range yamlValues() {
		docs := map[string]any{
			"namespace": namespaceDoc{APIVersion: "v1", Kind: v, Metadata: namespaceMeta{
				Labels: map[string]string{podSecurityEnforceLabel: v, v + "x": "restricted"}, Name: v}},
			"kustomization": kustomizationDoc{APIVersion: v, Kind: "Kustomization", Namespace: v,
				Labels:    []kustomizeLabel{{Pairs: map[string]string{v1alpha1.ManagedLabel: "true", v1alpha1.ClusterLabel: v}}},
				Resources: []string{"namespace.yaml", v}},
			"kustomization without namespace": kustomizationDoc{APIVersion: "a", Kind: "b",
				Labels: []kustomizeLabel{{Pairs: map[string]string{v: v}}}, Resources: []string{v}},
			"empty kustomization": kustomizationDoc{APIVersion: v, Kind: v},
			"role binding": roleBindingDoc{APIVersion: v, Kind: "RoleBinding", Metadata: nameMeta{Name: v},
				RoleRef:  roleRefDoc{APIGroup: v, Kind: "Role", Name: v},
				Subjects: []subjectDoc{{Kind: "ServiceAccount", Name: v, Namespace: v}, {Kind: v, Name: "x", Namespace: "y"}}},
		}
		for name, doc := range docs {
			want, err := goyaml.Marshal(doc)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(mustMarshalPlain(doc)), "%s with %q", name, v)
			if _, ok := doc.(directYAML).appendYAML(nil); ok {
				direct++
			}
		}
	}
	for _, name := range []string{"c1", "cluster-0001", "a", "x-1-y"} {
		_, ok := kustomizationDoc{APIVersion: "kustomize.config.k8s.io/v1beta1", Kind: "Kustomization", Namespace: v1alpha1.ClusterNamespace(name),
			Labels:    []kustomizeLabel{{Pairs: map[string]string{v1alpha1.ManagedLabel: "true", v1alpha1.ClusterLabel: name}}},
			Resources: []string{"namespace.yaml"}}.appendYAML(nil)
		assert.True(t, ok, "cluster %s is written directly", name)
	}
	assert.Greater(t, direct, 100, "the direct writer is used for most names")
}
