package schema

import (
	"encoding/json"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// TravellingAnnotations returns the only annotations of a provider's CRD
// that its snapshot carries to app clusters. Each is one the app cluster's
// API server needs to accept the CRD; everything else in metadata belongs to
// the provider's cluster and its tools (last-applied configuration, tool
// versions, ownership) and stays behind.
//
//   - api-approved.kubernetes.io: a CRD in a *.k8s.io or *.kubernetes.io
//     group is refused without it.
func TravellingAnnotations() []string {
	return []string{apiextensionsv1.KubeAPIApprovedAnnotation}
}

// Snapshot returns the snapshot of crd that an APIServiceExport carries,
// with every list in the provider's order (Hash takes its own canonical
// form). The snapshot is taken of a copy of crd with the API server's
// defaults applied (see Default), so a CRD read from a file and the same CRD
// read back from an API server give the same snapshot. Under webhook
// conversion only the storage version is kept and the other served versions
// are listed in DroppedVersions (see the package doc). It fails when the CRD
// cannot be exported at all: no versions, no storage version, or a version
// without a schema.
func Snapshot(crd *apiextensionsv1.CustomResourceDefinition) (v1alpha1.CRDSnapshot, error) {
	crd = Default(crd)
	snap := v1alpha1.CRDSnapshot{
		Annotations: travellingAnnotations(crd.Annotations),
		Group:       crd.Spec.Group,
		Names:       *crd.Spec.Names.DeepCopy(),
		Scope:       crd.Spec.Scope,
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
	return snap, nil
}

// Default returns a copy of crd with the defaults the API server applies
// to an apiextensions.k8s.io/v1 CRD when it stores one: names.singular (the
// kind in lower case), names.listKind (<kind>List), conversion strategy None,
// and the port of a conversion webhook's service. These are the generated
// apiextensions v1 defaulters the API server itself runs.
func Default(crd *apiextensionsv1.CustomResourceDefinition) *apiextensionsv1.CustomResourceDefinition {
	out := crd.DeepCopy()
	apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(out)
	return out
}

// travellingAnnotations returns the annotations among
// TravellingAnnotations() that in holds, or nil.
func travellingAnnotations(in map[string]string) map[string]string {
	var out map[string]string
	for _, k := range TravellingAnnotations() {
		if v, ok := in[k]; ok {
			if out == nil {
				out = map[string]string{}
			}
			out[k] = v
		}
	}
	return out
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
// the snapshot's annotations, conversion strategy None, no status, every list
// in the order the snapshot holds it. The caller adds labels and its own
// annotations.
func ToCRD(snap v1alpha1.CRDSnapshot) (*apiextensionsv1.CustomResourceDefinition, error) {
	var annotations map[string]string
	for k, v := range snap.Annotations {
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[k] = v
	}
	crd := &apiextensionsv1.CustomResourceDefinition{
		TypeMeta: metav1.TypeMeta{
			APIVersion: apiextensionsv1.SchemeGroupVersion.String(),
			Kind:       "CustomResourceDefinition",
		},
		ObjectMeta: metav1.ObjectMeta{Name: snap.Names.Plural + "." + snap.Group, Annotations: annotations},
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
