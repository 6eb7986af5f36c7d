package schema

import (
	"encoding/json"
	"fmt"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// Snapshot returns the canonical snapshot of crd that an APIServiceExport
// carries. Under webhook conversion only the storage version is kept and the
// other served versions are listed in DroppedVersions (see the package doc).
// It fails when the CRD cannot be exported at all: no versions, no storage
// version, or a version without a schema.
func Snapshot(crd *apiextensionsv1.CustomResourceDefinition) (v1alpha1.CRDSnapshot, error) {
	snap := v1alpha1.CRDSnapshot{
		Group: crd.Spec.Group,
		Names: *crd.Spec.Names.DeepCopy(),
		Scope: crd.Spec.Scope,
	}
	if len(crd.Spec.Versions) == 0 {
		return snap, fmt.Errorf("snapshot CRD %s: it has no versions", crd.Name)
	}
	webhook := crd.Spec.Conversion != nil && crd.Spec.Conversion.Strategy == apiextensionsv1.WebhookConverter
	storage := ""
	for i := range crd.Spec.Versions {
		v := &crd.Spec.Versions[i]
		if v.Storage {
			storage = v.Name
		}
		if webhook && !v.Storage {
			if v.Served {
				snap.DroppedVersions = append(snap.DroppedVersions, v.Name)
			}
			continue
		}
		ev, err := exportVersion(v)
		if err != nil {
			return snap, fmt.Errorf("snapshot CRD %s: %w", crd.Name, err)
		}
		snap.Versions = append(snap.Versions, ev)
	}
	if storage == "" {
		return snap, fmt.Errorf("snapshot CRD %s: no version is marked as the storage version", crd.Name)
	}
	if webhook {
		// The one version left is what the app cluster serves and stores.
		snap.Versions[0].Served = true
	}
	sort.Strings(snap.DroppedVersions)
	return Canonicalize(snap)
}

func exportVersion(v *apiextensionsv1.CustomResourceDefinitionVersion) (v1alpha1.ExportVersion, error) {
	if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
		return v1alpha1.ExportVersion{}, fmt.Errorf("version %s has no openAPIV3Schema", v.Name)
	}
	raw, err := json.Marshal(v.Schema.OpenAPIV3Schema)
	if err != nil {
		return v1alpha1.ExportVersion{}, fmt.Errorf("version %s: encode schema: %w", v.Name, err)
	}
	ev := v1alpha1.ExportVersion{
		Name:                     v.Name,
		Served:                   v.Served,
		Storage:                  v.Storage,
		Deprecated:               v.Deprecated,
		DeprecationWarning:       v.DeprecationWarning,
		Schema:                   runtime.RawExtension{Raw: raw},
		Subresources:             v.Subresources.DeepCopy(),
		AdditionalPrinterColumns: append([]apiextensionsv1.CustomResourceColumnDefinition(nil), v.AdditionalPrinterColumns...),
		SelectableFields:         append([]apiextensionsv1.SelectableField(nil), v.SelectableFields...),
	}
	return ev, nil
}

// ToCRD returns the CRD an app cluster gets for snap: name <plural>.<group>,
// conversion strategy None, no status. The caller adds labels and annotations.
func ToCRD(snap v1alpha1.CRDSnapshot) (*apiextensionsv1.CustomResourceDefinition, error) {
	crd := &apiextensionsv1.CustomResourceDefinition{
		TypeMeta: metav1.TypeMeta{
			APIVersion: apiextensionsv1.SchemeGroupVersion.String(),
			Kind:       "CustomResourceDefinition",
		},
		ObjectMeta: metav1.ObjectMeta{Name: snap.Names.Plural + "." + snap.Group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group:      snap.Group,
			Names:      *snap.Names.DeepCopy(),
			Scope:      snap.Scope,
			Conversion: &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter},
		},
	}
	for _, ev := range snap.Versions {
		props, err := decodeSchema(ev.Schema.Raw)
		if err != nil {
			return nil, fmt.Errorf("CRD %s version %s: %w", crd.Name, ev.Name, err)
		}
		crd.Spec.Versions = append(crd.Spec.Versions, apiextensionsv1.CustomResourceDefinitionVersion{
			Name:                     ev.Name,
			Served:                   ev.Served,
			Storage:                  ev.Storage,
			Deprecated:               ev.Deprecated,
			DeprecationWarning:       ev.DeprecationWarning,
			Schema:                   &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: props},
			Subresources:             ev.Subresources.DeepCopy(),
			AdditionalPrinterColumns: append([]apiextensionsv1.CustomResourceColumnDefinition(nil), ev.AdditionalPrinterColumns...),
			SelectableFields:         append([]apiextensionsv1.SelectableField(nil), ev.SelectableFields...),
		})
	}
	return crd, nil
}

// CRDName returns the name of the CRD a snapshot recreates, <plural>.<group>.
func CRDName(snap v1alpha1.CRDSnapshot) string { return snap.Names.Plural + "." + snap.Group }

func decodeSchema(raw []byte) (*apiextensionsv1.JSONSchemaProps, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("schema is empty")
	}
	props := &apiextensionsv1.JSONSchemaProps{}
	if err := json.Unmarshal(raw, props); err != nil {
		return nil, fmt.Errorf("decode schema: %w", err)
	}
	return props, nil
}
