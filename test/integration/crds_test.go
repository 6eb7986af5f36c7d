package integration

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	bindsyncv1alpha1 "github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/testenv"
)

func TestIntegrationBindsyncCRDsEstablish(t *testing.T) {
	t.Parallel()
	cp, _ := testenv.SharedPair(t)
	ctx := testContext(t)

	files, err := filepath.Glob(repoPath(t, "config", "crd", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	names := installBindsyncCRDs(ctx, t, cp)
	assert.Len(t, names, len(files), "one CRD per file in config/crd")

	kinds := map[string]bool{}
	for _, name := range names {
		var crd apiextensionsv1.CustomResourceDefinition
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Name: name}, &crd))
		assert.Equal(t, bindsyncv1alpha1.GroupName, crd.Spec.Group, name)
		kinds[crd.Spec.Names.Kind] = true
	}
	// Every kind of api/v1alpha1 is served: the scheme and config/crd agree.
	for gvk := range testenv.Scheme().AllKnownTypes() {
		if gvk.GroupVersion() == bindsyncv1alpha1.GroupVersion && !isListOrMeta(gvk.Kind) {
			assert.True(t, kinds[gvk.Kind], "kind %s has no CRD in config/crd", gvk.Kind)
		}
	}
}

func isListOrMeta(kind string) bool {
	switch kind {
	case "WatchEvent", "ListOptions", "GetOptions", "DeleteOptions", "CreateOptions", "UpdateOptions", "PatchOptions":
		return true
	}
	return len(kind) > 4 && kind[len(kind)-4:] == "List"
}

// TestIntegrationBindsyncValidation checks that the API server, not only
// bindsync, enforces what the CRDs promise.
func TestIntegrationBindsyncValidation(t *testing.T) {
	t.Parallel()
	cp, _ := testenv.SharedPair(t)
	ctx := testContext(t)
	installBindsyncCRDs(ctx, t, cp)
	c := cp.Client

	t.Run("an AppCluster name that is not a DNS-1123 label is rejected with the CRD's message", func(t *testing.T) {
		want := crdValidationMessage(ctx, t, c, "appclusters.bindsync.io")
		err := c.Create(ctx, &bindsyncv1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "A_B"}})
		require.Error(t, err)
		assert.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
		assert.Contains(t, err.Error(), want)

		ok := &bindsyncv1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "validation-ok"}}
		require.NoError(t, c.Create(ctx, ok), "a DNS-1123 label is accepted")
		t.Cleanup(func() { _ = c.Delete(context.Background(), ok) })
	})

	t.Run("an export request's templateRef cannot change after create", func(t *testing.T) {
		ns := createNamespace(ctx, t, c, "bindsync-validation")
		req := &bindsyncv1alpha1.APIServiceExportRequest{
			ObjectMeta: metav1.ObjectMeta{Name: "postgresql", Namespace: ns},
			Spec:       bindsyncv1alpha1.APIServiceExportRequestSpec{TemplateRef: bindsyncv1alpha1.TemplateReference{Name: "postgresql"}},
		}
		require.NoError(t, c.Create(ctx, req))
		t.Cleanup(func() { _ = c.Delete(context.Background(), req) })

		req.Spec.TemplateRef.Name = "messaging"
		err := c.Update(ctx, req)
		require.Error(t, err)
		assert.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
		assert.Contains(t, err.Error(), "templateRef is immutable")

		var got bindsyncv1alpha1.APIServiceExportRequest
		require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(req), &got))
		assert.Equal(t, "postgresql", got.Spec.TemplateRef.Name)
	})

	t.Run("a schemaUpdatePolicy outside the enum is rejected", func(t *testing.T) {
		tmpl := template("validation-bad-policy")
		tmpl.Spec.SchemaUpdatePolicy = "Sometimes"
		err := c.Create(ctx, tmpl)
		require.Error(t, err)
		assert.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
		assert.Contains(t, err.Error(), "spec.schemaUpdatePolicy")
		assert.Contains(t, err.Error(), `"NonBreaking"`)
	})

	t.Run("a template without policies gets the documented defaults", func(t *testing.T) {
		tmpl := template("validation-defaults")
		require.NoError(t, c.Create(ctx, tmpl))
		t.Cleanup(func() { _ = c.Delete(context.Background(), tmpl) })
		assert.Equal(t, bindsyncv1alpha1.SchemaUpdateNonBreaking, tmpl.Spec.SchemaUpdatePolicy)
		assert.Equal(t, bindsyncv1alpha1.ApprovalAutomatic, tmpl.Spec.Approval)
	})
}

func template(name string) *bindsyncv1alpha1.APIServiceExportTemplate {
	return &bindsyncv1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: bindsyncv1alpha1.APIServiceExportTemplateSpec{
			Resources: []bindsyncv1alpha1.GroupResource{{Group: "anynines.com", Resource: "postgresqlinstances"}},
		},
	}
}

// crdValidationMessage returns the message of the CRD's first top-level
// x-kubernetes-validations rule, as installed on the server.
func crdValidationMessage(ctx context.Context, t *testing.T, c client.Client, name string) string {
	t.Helper()
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: name}, &crd))
	rules := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.XValidations
	require.NotEmpty(t, rules, "%s has a top-level validation rule", name)
	require.NotEmpty(t, rules[0].Message)
	return rules[0].Message
}

// createNamespace creates a namespace for one test if it does not exist.
// envtest runs no namespace controller, so namespaces are never deleted.
func createNamespace(ctx context.Context, t *testing.T, c client.Client, name string) string {
	t.Helper()
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if !apierrors.IsAlreadyExists(err) {
		require.NoError(t, err)
	}
	return name
}
