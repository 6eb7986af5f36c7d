// Package scalefixture builds the control-plane input the scale benchmarks
// and tests share: app clusters named cluster-0000, cluster-0001, ..., each
// requesting the first few of the real Klutch CRDs (testdata/crds/klutch),
// one template per CRD. The render, git and backend benchmarks measure the
// same 1000 clusters x 10 bindings through it, so their figures compare.
package scalefixture

import (
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/manifest"
	"github.com/bindsync/bindsync/internal/render"
)

// KlutchDir is the folder of the real Klutch CRDs in the repository.
func KlutchDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "testdata", "crds", "klutch")
}

// Input is clusters app clusters, each with a request for each of the
// first bindings templates (one template per Klutch CRD, claiming secrets),
// and every Klutch CRD.
func Input(tb testing.TB, clusters, bindings int) render.Input {
	tb.Helper()
	in, problems, err := manifest.LoadDir(KlutchDir())
	require.NoError(tb, err)
	require.Empty(tb, problems)
	require.GreaterOrEqual(tb, len(in.CRDs), bindings)
	for _, crd := range in.CRDs[:bindings] {
		in.Templates = append(in.Templates, v1alpha1.APIServiceExportTemplate{
			ObjectMeta: metav1.ObjectMeta{Name: crd.Spec.Names.Singular},
			Spec: v1alpha1.APIServiceExportTemplateSpec{
				Resources: []v1alpha1.GroupResource{{Group: crd.Spec.Group, Resource: crd.Spec.Names.Plural}},
				PermissionClaims: []v1alpha1.PermissionClaim{
					{GroupResource: v1alpha1.GroupResource{Resource: "secrets"}, Verbs: []v1alpha1.Verb{"get", "list", "watch"}},
				},
			},
		})
	}
	for c := range clusters {
		AddCluster(&in, ClusterName(c), in.Templates)
	}
	return in
}

// ClusterName is the name of the c-th cluster.
func ClusterName(c int) string { return fmt.Sprintf("cluster-%04d", c) }

// AddCluster adds app cluster name to in with a request for each template.
func AddCluster(in *render.Input, name string, templates []v1alpha1.APIServiceExportTemplate) {
	in.Clusters = append(in.Clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: name}})
	for _, tpl := range templates {
		in.Requests = append(in.Requests, Request(name, tpl.Name))
	}
}

// Request is cluster's request of template, with a UID as the API server
// gives one (the backend's plan keys revocations by it).
func Request(cluster, template string) v1alpha1.APIServiceExportRequest {
	return v1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: template, Namespace: v1alpha1.ClusterNamespace(cluster),
			UID: types.UID("uid-" + cluster + "-" + template)},
		Spec: v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: template}},
	}
}
