package schema

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

func loadCRD(t testing.TB, path string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, yaml.UnmarshalStrict(b, crd), path)
	return crd
}

func klutchCRDs(t testing.TB) map[string]*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	return crdsIn(t, "../../testdata/crds/klutch/*.yaml")
}

// everythingCRD is the CRD that uses every schema feature, in a protected
// group, with its lists in an order that is not alphabetical.
const everythingCRD = "../../testdata/crds/everything/widgets.fidelity.example.k8s.io.yaml"

// testCRDs are the eleven Klutch CRDs and the everything CRD.
func testCRDs(t testing.TB) map[string]*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	out := klutchCRDs(t)
	crd := loadCRD(t, everythingCRD)
	out[crd.Name] = crd
	return out
}

func crdsIn(t testing.TB, glob string) map[string]*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	paths, err := filepath.Glob(glob)
	require.NoError(t, err)
	require.NotEmpty(t, paths, "%s holds real CRDs", glob)
	out := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, p := range paths {
		crd := loadCRD(t, p)
		out[crd.Name] = crd
	}
	return out
}

// TestSnapshotRoundTripKeepsEverySchemaOfTheRealCRDs: CRD -> snapshot -> CRD
// gives back the provider's spec exactly, every list in the provider's
// order, with only what the API server defaults filled in, and the
// api-approval annotation and nothing else of the provider's metadata.
func TestSnapshotRoundTripKeepsEverySchemaOfTheRealCRDs(t *testing.T) {
	for name, crd := range testCRDs(t) {
		t.Run(name, func(t *testing.T) {
			snap, err := Snapshot(crd)
			require.NoError(t, err)
			back, err := ToCRD(snap)
			require.NoError(t, err)

			want := crd.Spec.DeepCopy()
			apiextensionsv1.SetDefaults_CustomResourceDefinitionSpec(want)
			require.Equal(t, apiextensionsv1.NoneConverter, want.Conversion.Strategy, "these CRDs convert with strategy None")
			assert.Equal(t, crd.Name, back.Name)
			assert.Equal(t, want.Group, back.Spec.Group)
			assert.Equal(t, want.Names, back.Spec.Names)
			assert.Equal(t, want.Scope, back.Spec.Scope)
			require.Len(t, back.Spec.Versions, len(want.Versions))
			for i, v := range want.Versions {
				assert.Equal(t, v, back.Spec.Versions[i], "version %d (%s)", i, v.Name)
			}
			assert.Equal(t, *want, back.Spec, "the whole spec")

			wantAnnotations := map[string]string(nil)
			if approval, ok := crd.Annotations[apiextensionsv1.KubeAPIApprovedAnnotation]; ok {
				wantAnnotations = map[string]string{apiextensionsv1.KubeAPIApprovedAnnotation: approval}
			}
			assert.Equal(t, wantAnnotations, back.Annotations)

			again, err := Snapshot(back)
			require.NoError(t, err)
			assert.Equal(t, snap, again, "CRD -> snapshot -> CRD -> snapshot is stable")
			h1, err := Hash(snap)
			require.NoError(t, err)
			h2, err := Hash(again)
			require.NoError(t, err)
			assert.Equal(t, h1, h2, "CRD -> snapshot -> CRD -> snapshot keeps the hash")
		})
	}
}

func TestHashIgnoresOrderThatCarriesNoMeaning(t *testing.T) {
	crd := loadCRD(t, "../../testdata/crds/klutch/postgresqlinstances.anynines.com.yaml")
	base := mustHash(t, crd)

	reordered := crd.DeepCopy()
	spec := reordered.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
	reverse(spec.Required)
	xv := spec.XValidations
	for i, j := 0, len(xv)-1; i < j; i, j = i+1, j-1 {
		xv[i], xv[j] = xv[j], xv[i]
	}
	for k, p := range spec.Properties {
		for i, j := 0, len(p.Enum)-1; i < j; i, j = i+1, j-1 {
			p.Enum[i], p.Enum[j] = p.Enum[j], p.Enum[i]
		}
		spec.Properties[k] = p
	}
	reordered.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
	reverse(reordered.Spec.Names.Categories)
	assert.Equal(t, base, mustHash(t, reordered))

	// YAML key order never reaches the hash: re-encode with keys in another order.
	b, err := os.ReadFile("../../testdata/crds/klutch/postgresqlinstances.anynines.com.yaml")
	require.NoError(t, err)
	j, err := yaml.YAMLToJSON(b)
	require.NoError(t, err)
	fromJSON := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, yaml.Unmarshal(j, fromJSON))
	assert.Equal(t, base, mustHash(t, fromJSON))
}

func TestHashChangesWithEveryRealSchemaChange(t *testing.T) {
	crd := loadCRD(t, "../../testdata/crds/klutch/postgresqlinstances.anynines.com.yaml")
	base := mustHash(t, crd)
	edits := map[string]func(c *apiextensionsv1.CustomResourceDefinition){
		"field removed": func(c *apiextensionsv1.CustomResourceDefinition) {
			delete(c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties, "plan")
		},
		"description changed": func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Versions[0].Schema.OpenAPIV3Schema.Description = "another description"
		},
		"printer column added": func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Versions[0].AdditionalPrinterColumns = append(c.Spec.Versions[0].AdditionalPrinterColumns,
				apiextensionsv1.CustomResourceColumnDefinition{Name: "Plan", Type: "string", JSONPath: ".spec.plan"})
		},
		"short name added": func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Names.ShortNames = append(c.Spec.Names.ShortNames, "pg")
		},
		"scope changed": func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Scope = apiextensionsv1.ClusterScoped },
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			c := crd.DeepCopy()
			edit(c)
			assert.NotEqual(t, base, mustHash(t, c))
		})
	}
}

func TestSnapshotOfMultiVersionCRD(t *testing.T) {
	crd := loadCRD(t, "../../testdata/crds/klutch/postgresqlinstances.anynines.com.yaml")
	v1 := crd.Spec.Versions[0]
	beta := *v1.DeepCopy()
	beta.Name, beta.Storage, beta.Deprecated = "v1beta1", false, true
	crd.Spec.Versions = append(crd.Spec.Versions, beta)

	t.Run("strategy None keeps every version", func(t *testing.T) {
		snap, err := Snapshot(crd)
		require.NoError(t, err)
		require.Len(t, snap.Versions, 2)
		assert.Equal(t, "v1", snap.Versions[0].Name)
		assert.Equal(t, "v1beta1", snap.Versions[1].Name)
		assert.Empty(t, snap.DroppedVersions)
		back, err := ToCRD(snap)
		require.NoError(t, err)
		assert.Equal(t, apiextensionsv1.NoneConverter, back.Spec.Conversion.Strategy)
	})

	t.Run("webhook conversion keeps only the storage version and names the rest", func(t *testing.T) {
		c := crd.DeepCopy()
		c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter}
		snap, err := Snapshot(c)
		require.NoError(t, err)
		require.Len(t, snap.Versions, 1)
		assert.Equal(t, "v1", snap.Versions[0].Name)
		assert.True(t, snap.Versions[0].Storage)
		assert.True(t, snap.Versions[0].Served)
		assert.Equal(t, []string{"v1beta1"}, snap.DroppedVersions)
		back, err := ToCRD(snap)
		require.NoError(t, err)
		assert.Equal(t, apiextensionsv1.NoneConverter, back.Spec.Conversion.Strategy, "the app cluster never calls a webhook")
	})
}

func TestSnapshotRejectsCRDsThatCannotBeExported(t *testing.T) {
	crd := loadCRD(t, "../../testdata/crds/klutch/backups.anynines.com.yaml")
	cases := map[string]struct {
		edit func(c *apiextensionsv1.CustomResourceDefinition)
		want string
	}{
		"no versions":       {func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions = nil }, "has no versions"},
		"no storage":        {func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[0].Storage = false }, "storage version"},
		"version no schema": {func(c *apiextensionsv1.CustomResourceDefinition) { c.Spec.Versions[0].Schema = nil }, "version v1 has no openAPIV3Schema"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := crd.DeepCopy()
			tc.edit(c)
			_, err := Snapshot(c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "backups.anynines.com")
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func mustHash(t *testing.T, crd *apiextensionsv1.CustomResourceDefinition) string {
	t.Helper()
	snap, err := Snapshot(crd)
	require.NoError(t, err)
	h, err := Hash(snap)
	require.NoError(t, err)
	require.Len(t, h, 64)
	return h
}

func reverse(s []string) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

func TestHashIgnoresKeyOrderInsideDefaultsAndEnumValues(t *testing.T) {
	crd := loadCRD(t, "../../testdata/crds/klutch/backups.anynines.com.yaml")
	withDefault := func(raw string) *apiextensionsv1.CustomResourceDefinition {
		c := crd.DeepCopy()
		spec := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		spec.Default = &apiextensionsv1.JSON{Raw: []byte(raw)}
		c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
		return c
	}
	assert.Equal(t, mustHash(t, withDefault(`{"a":1,"b":{"c":2,"d":3}}`)), mustHash(t, withDefault(`{ "b": {"d":3, "c":2}, "a": 1 }`)))
	assert.NotEqual(t, mustHash(t, withDefault(`{"a":1}`)), mustHash(t, withDefault(`{"a":2}`)))
}

func TestHashIgnoresTheOrderOfCELRulesThatShareTheirText(t *testing.T) {
	crd := loadCRD(t, "../../testdata/crds/klutch/backups.anynines.com.yaml")
	reason := apiextensionsv1.FieldValueForbidden
	rules := apiextensionsv1.ValidationRules{
		{Rule: "self.size() > 0", Message: "m"},
		{Rule: "self.size() > 0", Message: "m", Reason: &reason, FieldPath: ".x"},
	}
	with := func(r apiextensionsv1.ValidationRules) *apiextensionsv1.CustomResourceDefinition {
		c := crd.DeepCopy()
		spec := c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		spec.XValidations = r
		c.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"] = spec
		return c
	}
	assert.Equal(t, mustHash(t, with(rules)), mustHash(t, with(apiextensionsv1.ValidationRules{rules[1], rules[0]})))
}

// editSpec edits the schema of spec in version i of c.
func editSpec(c *apiextensionsv1.CustomResourceDefinition, i int, edit func(p *apiextensionsv1.JSONSchemaProps)) {
	root := c.Spec.Versions[i].Schema.OpenAPIV3Schema
	spec := root.Properties["spec"]
	edit(&spec)
	root.Properties["spec"] = spec
}

// reversed returns a reversed copy of s. (JSONSchemaProps.DeepCopy shares
// enum values and list-map keys with the original, so a test never
// reverses them in place.)
func reversed[T any](s []T) []T {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}

func specOf(c *apiextensionsv1.CustomResourceDefinition, i int) apiextensionsv1.JSONSchemaProps {
	return c.Spec.Versions[i].Schema.OpenAPIV3Schema.Properties["spec"]
}

func roundTrip(t *testing.T, c *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	snap, err := Snapshot(c)
	require.NoError(t, err)
	back, err := ToCRD(snap)
	require.NoError(t, err)
	return back
}

func TestSnapshotKeepsTheProvidersOrder(t *testing.T) {
	base := loadCRD(t, everythingCRD)
	cases := map[string]struct {
		read    func(c *apiextensionsv1.CustomResourceDefinition) []string
		reverse func(c *apiextensionsv1.CustomResourceDefinition)
		want    []string // the provider's order, as written in the file
		// hashKeepsOrder is true for lists whose order the canonical
		// form keeps: reordering them is a schema change.
		hashKeepsOrder bool
	}{
		"enum values (DEBUG5 ... PANIC, as kubectl explain shows them)": {
			read: func(c *apiextensionsv1.CustomResourceDefinition) []string {
				var out []string
				for _, v := range specOf(c, 0).Properties["logLevel"].Enum {
					out = append(out, string(v.Raw))
				}
				return out
			},
			reverse: func(c *apiextensionsv1.CustomResourceDefinition) {
				editSpec(c, 0, func(p *apiextensionsv1.JSONSchemaProps) {
					logLevel := p.Properties["logLevel"]
					logLevel.Enum = reversed(logLevel.Enum)
					p.Properties["logLevel"] = logLevel
				})
			},
			want: []string{`"DEBUG5"`, `"DEBUG4"`, `"DEBUG3"`, `"DEBUG2"`, `"DEBUG1"`, `"INFO"`, `"NOTICE"`, `"WARNING"`, `"ERROR"`, `"LOG"`, `"FATAL"`, `"PANIC"`},
		},
		"required fields": {
			read:    func(c *apiextensionsv1.CustomResourceDefinition) []string { return specOf(c, 0).Required },
			reverse: func(c *apiextensionsv1.CustomResourceDefinition) { slices.Reverse(specOf(c, 0).Required) },
			want:    []string{"replicas", "logLevel"},
		},
		"CEL rules (their messages are reported in this order)": {
			read: func(c *apiextensionsv1.CustomResourceDefinition) []string {
				var out []string
				for _, r := range specOf(c, 0).XValidations {
					out = append(out, r.Rule)
				}
				return out
			},
			reverse: func(c *apiextensionsv1.CustomResourceDefinition) { slices.Reverse(specOf(c, 0).XValidations) },
			want:    []string{"self.replicas <= 10", "self.logLevel != 'PANIC' || self.replicas == 1", "!has(self.owner) || self.owner.endsWith('.example')"},
		},
		"versions": {
			read: func(c *apiextensionsv1.CustomResourceDefinition) []string {
				var out []string
				for _, v := range c.Spec.Versions {
					out = append(out, v.Name)
				}
				return out
			},
			reverse: func(c *apiextensionsv1.CustomResourceDefinition) { slices.Reverse(c.Spec.Versions) },
			want:    []string{"v2", "v1beta1", "v1"},
		},
		"short names": {
			read:    func(c *apiextensionsv1.CustomResourceDefinition) []string { return c.Spec.Names.ShortNames },
			reverse: func(c *apiextensionsv1.CustomResourceDefinition) { slices.Reverse(c.Spec.Names.ShortNames) },
			want:    []string{"wdg", "wd"},
		},
		"categories": {
			read:    func(c *apiextensionsv1.CustomResourceDefinition) []string { return c.Spec.Names.Categories },
			reverse: func(c *apiextensionsv1.CustomResourceDefinition) { slices.Reverse(c.Spec.Names.Categories) },
			want:    []string{"fidelity", "bindsync-tests"},
		},
		"selectable fields": {
			read: func(c *apiextensionsv1.CustomResourceDefinition) []string {
				var out []string
				for _, f := range c.Spec.Versions[0].SelectableFields {
					out = append(out, f.JSONPath)
				}
				return out
			},
			reverse: func(c *apiextensionsv1.CustomResourceDefinition) { slices.Reverse(c.Spec.Versions[0].SelectableFields) },
			want:    []string{".spec.replicas", ".spec.logLevel"},
		},
		"printer columns (the column order of kubectl get)": {
			read: func(c *apiextensionsv1.CustomResourceDefinition) []string {
				var out []string
				for _, col := range c.Spec.Versions[0].AdditionalPrinterColumns {
					out = append(out, col.Name)
				}
				return out
			},
			reverse: func(c *apiextensionsv1.CustomResourceDefinition) {
				slices.Reverse(c.Spec.Versions[0].AdditionalPrinterColumns)
			},
			want:           []string{"Replicas", "Level", "Owner", "Age"},
			hashKeepsOrder: true,
		},
		"list-map keys": {
			read: func(c *apiextensionsv1.CustomResourceDefinition) []string {
				return specOf(c, 0).Properties["ports"].XListMapKeys
			},
			reverse: func(c *apiextensionsv1.CustomResourceDefinition) {
				editSpec(c, 0, func(p *apiextensionsv1.JSONSchemaProps) {
					ports := p.Properties["ports"]
					ports.XListMapKeys = reversed(ports.XListMapKeys)
					p.Properties["ports"] = ports
				})
			},
			want:           []string{"protocol", "port"},
			hashKeepsOrder: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.read(base), "the file holds the provider's order")
			assert.Equal(t, tc.want, tc.read(roundTrip(t, base)), "the app cluster's CRD keeps the provider's order")

			reordered := base.DeepCopy()
			tc.reverse(reordered)
			require.Equal(t, reversed(tc.want), tc.read(reordered))
			require.Equal(t, tc.want, tc.read(base), "reordering a copy leaves the original alone")
			assert.Equal(t, reversed(tc.want), tc.read(roundTrip(t, reordered)), "a reorder reaches the app cluster")

			if tc.hashKeepsOrder {
				assert.NotEqual(t, mustHash(t, base), mustHash(t, reordered), "this order is part of the schema")
			} else {
				assert.Equal(t, mustHash(t, base), mustHash(t, reordered), "a reorder alone is no schema change")
			}
		})
	}
}

func TestSnapshotCarriesTheAPIApprovalAnnotationAndNoOther(t *testing.T) {
	base := loadCRD(t, everythingCRD)
	approval := base.Annotations[apiextensionsv1.KubeAPIApprovedAnnotation]
	require.NotEmpty(t, approval, "the everything CRD is in a protected group")

	t.Run("the approval travels into the snapshot and onto the app cluster's CRD", func(t *testing.T) {
		snap, err := Snapshot(base)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{apiextensionsv1.KubeAPIApprovedAnnotation: approval}, snap.Annotations)
		back, err := ToCRD(snap)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{apiextensionsv1.KubeAPIApprovedAnnotation: approval}, back.Annotations)
	})

	hash := mustHash(t, base)
	cases := map[string]struct {
		edit        func(c *apiextensionsv1.CustomResourceDefinition)
		wantAnnot   map[string]string
		hashChanges bool
	}{
		"another approval is another schema": {
			edit: func(c *apiextensionsv1.CustomResourceDefinition) {
				c.Annotations[apiextensionsv1.KubeAPIApprovedAnnotation] = "https://github.com/kubernetes/enhancements/pull/1111"
			},
			wantAnnot:   map[string]string{apiextensionsv1.KubeAPIApprovedAnnotation: "https://github.com/kubernetes/enhancements/pull/1111"},
			hashChanges: true,
		},
		"a lost approval is another schema": {
			edit: func(c *apiextensionsv1.CustomResourceDefinition) {
				delete(c.Annotations, apiextensionsv1.KubeAPIApprovedAnnotation)
			},
			wantAnnot:   nil,
			hashChanges: true,
		},
		"the provider's tools' annotations stay behind": {
			edit: func(c *apiextensionsv1.CustomResourceDefinition) {
				c.Annotations["controller-gen.kubebuilder.io/version"] = "v0.99.0"
				c.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = `{"kind":"CustomResourceDefinition"}`
				c.Annotations["bindsync.io/schema-hash"] = "forged"
			},
			wantAnnot: map[string]string{apiextensionsv1.KubeAPIApprovedAnnotation: approval},
		},
		"no annotations at all": {
			edit:        func(c *apiextensionsv1.CustomResourceDefinition) { c.Annotations = nil },
			wantAnnot:   nil,
			hashChanges: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := base.DeepCopy()
			tc.edit(c)
			back := roundTrip(t, c)
			assert.Equal(t, tc.wantAnnot, back.Annotations)
			if tc.hashChanges {
				assert.NotEqual(t, hash, mustHash(t, c))
			} else {
				assert.Equal(t, hash, mustHash(t, c))
			}
		})
	}
}

// TestHashIsTheSameForACRDFromAFileAndFromTheAPIServer: the API server
// stores a CRD with its defaults filled in and its JSON values re-encoded;
// the CLI reads the provider's file. Both must name the schema alike.
func TestHashIsTheSameForACRDFromAFileAndFromTheAPIServer(t *testing.T) {
	file := loadCRD(t, everythingCRD)
	require.Empty(t, file.Spec.Names.Singular, "the file leaves singular to the API server")
	require.Empty(t, file.Spec.Names.ListKind, "the file leaves listKind to the API server")
	require.Nil(t, file.Spec.Conversion, "the file leaves the conversion strategy to the API server")
	hash := mustHash(t, file)

	cases := map[string]func(c *apiextensionsv1.CustomResourceDefinition){
		"the API server fills in singular, listKind and conversion None": func(c *apiextensionsv1.CustomResourceDefinition) {
			c.Spec.Names.Singular = "widget"
			c.Spec.Names.ListKind = "WidgetList"
			c.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter}
		},
		"metadata and status the API server adds": func(c *apiextensionsv1.CustomResourceDefinition) {
			c.UID, c.ResourceVersion, c.Generation = "0b5c3d1e", "4711", 3
			c.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
			c.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
			c.Status.StoredVersions = []string{"v1beta1", "v2"}
			c.Status.AcceptedNames = c.Spec.Names
		},
		"selectable fields in another order (a set)": func(c *apiextensionsv1.CustomResourceDefinition) {
			slices.Reverse(c.Spec.Versions[0].SelectableFields)
		},
		"an explicit x-kubernetes-preserve-unknown-fields: false": func(c *apiextensionsv1.CustomResourceDefinition) {
			editSpec(c, 0, func(p *apiextensionsv1.JSONSchemaProps) {
				backup := p.Properties["backup"]
				backup.XPreserveUnknownFields = ptr.To(false)
				p.Properties["backup"] = backup
			})
		},
		"numbers in defaults written another way (1.0, 5e-1)": func(c *apiextensionsv1.CustomResourceDefinition) {
			editSpec(c, 0, func(p *apiextensionsv1.JSONSchemaProps) {
				for field, raw := range map[string]string{"replicas": `1.0`, "ratio": `5e-1`} {
					prop := p.Properties[field]
					prop.Default = &apiextensionsv1.JSON{Raw: []byte(raw)}
					p.Properties[field] = prop
				}
			})
		},
		"a nested default with its keys in another order": func(c *apiextensionsv1.CustomResourceDefinition) {
			editSpec(c, 0, func(p *apiextensionsv1.JSONSchemaProps) {
				backup := p.Properties["backup"]
				backup.Default = &apiextensionsv1.JSON{Raw: []byte(`{"retention":{"copies":3,"days":7.0},"schedule":"0 3 * * *"}`)}
				p.Properties["backup"] = backup
			})
		},
	}
	for name, edit := range cases {
		t.Run(name, func(t *testing.T) {
			server := file.DeepCopy()
			edit(server)
			assert.Equal(t, hash, mustHash(t, server))
		})
	}

	t.Run("Default fills in what the API server fills in and leaves the CRD alone", func(t *testing.T) {
		d := Default(file)
		assert.Equal(t, "widget", d.Spec.Names.Singular)
		assert.Equal(t, "WidgetList", d.Spec.Names.ListKind)
		assert.Equal(t, &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter}, d.Spec.Conversion)
		assert.Empty(t, file.Spec.Names.Singular, "the caller's CRD is not changed")

		hook := file.DeepCopy()
		hook.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{
			Strategy: apiextensionsv1.WebhookConverter,
			Webhook: &apiextensionsv1.WebhookConversion{ClientConfig: &apiextensionsv1.WebhookClientConfig{
				Service: &apiextensionsv1.ServiceReference{Namespace: "ns", Name: "conv"},
			}},
		}
		assert.Equal(t, ptr.To[int32](443), Default(hook).Spec.Conversion.Webhook.ClientConfig.Service.Port)
	})
}
