package integration

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bindsyncv1alpha1 "github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/kustomize"
	"github.com/bindsync/bindsync/internal/manifest"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/schema"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// fidelityCluster is the app cluster TestIntegrationAppClusterGetsTheProvidersCRD
// renders for.
const fidelityCluster = "fidelity"

// TestIntegrationAppClusterGetsTheProvidersCRD carries real CRDs the whole
// way, on real API servers: the eleven Klutch CRDs, a CRD that uses every
// schema feature in a protected *.k8s.io group (testdata/crds/everything) and
// a webhook-converted copy of it are applied to the control plane, read back,
// rendered, built with kustomize as the agent builds an app folder, and
// applied to the app cluster. Then the two API servers' stored CRDs are
// compared: the app cluster must hold exactly the provider's spec, in the
// provider's order, except for what bindsync documents it changes (a
// webhook-converted CRD keeps only its storage version, served, with
// conversion None, and names the dropped versions).
//
// The test does not run in parallel with the others: the example state
// repository puts the same Klutch CRDs, labelled for other clusters, on the
// same app cluster.
func TestIntegrationAppClusterGetsTheProvidersCRD(t *testing.T) {
	cp, app := testenv.SharedPair(t)
	ctx := testContext(t)

	files := fidelityCRDs(t)
	var objs []*unstructured.Unstructured
	for _, name := range sortedKeys(files) {
		obj, err := toUnstructured(files[name])
		require.NoError(t, err)
		objs = append(objs, obj)
	}
	require.NoError(t, cp.ApplyObjects(ctx, objs), "the control plane accepts every provider CRD")
	provider := getCRDs(ctx, t, cp.Client, sortedKeys(files))

	t.Run("a CRD from its file and from the API server has one schema hash", func(t *testing.T) {
		for _, name := range sortedKeys(files) {
			assert.Equal(t, schemaHash(t, files[name]), schemaHash(t, provider[name]), name)
		}
	})

	out := render.Render(fidelityInput(provider))
	require.Empty(t, out.Problems)
	require.Len(t, out.Warnings, 1, "only the webhook-converted CRD is rendered with a caveat")
	assert.Equal(t, "gizmos.fidelity.example.k8s.io", out.Warnings[0].Name)
	assert.Equal(t, bindsyncv1alpha1.UnsupportedConversionReason, out.Warnings[0].Reason)

	fsys := fstest.MapFS{}
	for p, data := range out.Tree {
		fsys[p] = &fstest.MapFile{Data: data}
	}
	appObjs, err := kustomize.BuildFS(fsys, staterepo.AppDir(fidelityCluster))
	require.NoError(t, err)
	require.Len(t, appObjs, len(files), "one CRD per bound CRD in the app folder")
	require.NoError(t, app.ApplyObjects(ctx, appObjs), "the app cluster accepts every rendered CRD")
	got := getCRDs(ctx, t, app.Client, sortedKeys(files))

	for _, name := range sortedKeys(files) {
		t.Run(name, func(t *testing.T) {
			p, a := provider[name], got[name]
			want, dropped := documentedChanges(p)
			assert.Equal(t, want.Group, a.Spec.Group, "group")
			assert.Equal(t, want.Names, a.Spec.Names, "names")
			assert.Equal(t, want.Scope, a.Spec.Scope, "scope")
			assert.Equal(t, want.Conversion, a.Spec.Conversion, "conversion")
			assert.Equal(t, want.PreserveUnknownFields, a.Spec.PreserveUnknownFields, "preserveUnknownFields")
			require.Len(t, a.Spec.Versions, len(want.Versions), "versions")
			for i, v := range want.Versions {
				assert.Equal(t, v, a.Spec.Versions[i], "version %d (%s)", i, v.Name)
			}
			assert.Equal(t, *want, a.Spec, "the whole spec")

			assert.Equal(t, p.Annotations[apiextensionsv1.KubeAPIApprovedAnnotation], a.Annotations[apiextensionsv1.KubeAPIApprovedAnnotation],
				"the API approval travels")
			assert.Equal(t, strings.Join(dropped, ","), a.Annotations[bindsyncv1alpha1.DroppedVersionsAnnotation],
				"dropped versions are named")
			assert.Len(t, a.Annotations[bindsyncv1alpha1.SchemaHashAnnotation], 64)
			for k := range a.Annotations {
				if !strings.HasPrefix(k, "bindsync.io/") {
					assert.Contains(t, schema.TravellingAnnotations(), k, "annotation %s of the provider's metadata travelled", k)
				}
			}
		})
	}
}

// documentedChanges returns the spec the app cluster should hold for a
// provider's stored CRD, and the versions bindsync drops: conversion None
// always; under webhook conversion only the storage version, served, and
// the other served versions dropped, in the provider's order.
func documentedChanges(p *apiextensionsv1.CustomResourceDefinition) (*apiextensionsv1.CustomResourceDefinitionSpec, []string) {
	want := p.Spec.DeepCopy()
	want.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter}
	if p.Spec.Conversion == nil || p.Spec.Conversion.Strategy != apiextensionsv1.WebhookConverter {
		return want, nil
	}
	var dropped []string
	want.Versions = slices.DeleteFunc(want.Versions, func(v apiextensionsv1.CustomResourceDefinitionVersion) bool {
		if !v.Storage && v.Served {
			dropped = append(dropped, v.Name)
		}
		return !v.Storage
	})
	want.Versions[0].Served = true
	return want, dropped
}

// fidelityCRDs returns the provider CRDs of the test as the CLI reads them
// from files, by name: the Klutch CRDs, the everything CRD, and the
// everything CRD with webhook conversion as gizmos.
func fidelityCRDs(t *testing.T) map[string]*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	out := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, dir := range []string{"klutch", "everything"} {
		in, problems, err := manifest.LoadDir(repoPath(t, "testdata", "crds", dir))
		require.NoError(t, err)
		require.Empty(t, problems)
		for i := range in.CRDs {
			out[in.CRDs[i].Name] = &in.CRDs[i]
		}
	}
	require.Len(t, out, 12, "the eleven Klutch CRDs and the everything CRD")

	everything := out["widgets.fidelity.example.k8s.io"]
	require.NotNil(t, everything)
	require.Greater(t, len(everything.Spec.Versions), 2, "the everything CRD has versions to drop")
	gizmos := everything.DeepCopy()
	gizmos.Name = "gizmos.fidelity.example.k8s.io"
	gizmos.Spec.Names = apiextensionsv1.CustomResourceDefinitionNames{
		Kind: "Gizmo", Plural: "gizmos", ShortNames: []string{"gzm", "gz"}, Categories: everything.Spec.Names.Categories,
	}
	gizmos.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{
		Strategy: apiextensionsv1.WebhookConverter,
		Webhook: &apiextensionsv1.WebhookConversion{
			ConversionReviewVersions: []string{"v1"},
			ClientConfig: &apiextensionsv1.WebhookClientConfig{Service: &apiextensionsv1.ServiceReference{
				Namespace: "fidelity-provider", Name: "gizmo-conversion", Path: ptr.To("/convert"),
			}},
		},
	}
	out[gizmos.Name] = gizmos
	return out
}

// fidelityInput binds every CRD through one template into one cluster.
func fidelityInput(crds map[string]*apiextensionsv1.CustomResourceDefinition) render.Input {
	in := render.Input{
		Clusters: []bindsyncv1alpha1.AppCluster{{ObjectMeta: metav1.ObjectMeta{Name: fidelityCluster}}},
		Requests: []bindsyncv1alpha1.APIServiceExportRequest{{
			ObjectMeta: metav1.ObjectMeta{Name: "everything", Namespace: bindsyncv1alpha1.ClusterNamespace(fidelityCluster)},
			Spec:       bindsyncv1alpha1.APIServiceExportRequestSpec{TemplateRef: bindsyncv1alpha1.TemplateReference{Name: "everything"}},
		}},
	}
	tpl := bindsyncv1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: "everything"}}
	for _, name := range sortedKeys(crds) {
		crd := crds[name]
		in.CRDs = append(in.CRDs, *crd)
		tpl.Spec.Resources = append(tpl.Spec.Resources, bindsyncv1alpha1.GroupResource{Group: crd.Spec.Group, Resource: crd.Spec.Names.Plural})
	}
	in.Templates = []bindsyncv1alpha1.APIServiceExportTemplate{tpl}
	return in
}

// getCRDs reads the named CRDs as the API server stores them.
func getCRDs(ctx context.Context, t *testing.T, c client.Client, names []string) map[string]*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	out := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, name := range names {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: name}, crd))
		out[name] = crd
	}
	return out
}

func schemaHash(t *testing.T, crd *apiextensionsv1.CustomResourceDefinition) string {
	t.Helper()
	snap, err := schema.Snapshot(crd)
	require.NoError(t, err, crd.Name)
	h, err := schema.Hash(snap)
	require.NoError(t, err, crd.Name)
	return h
}
