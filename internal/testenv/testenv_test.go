package testenv

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	_ "github.com/bindsync/bindsync/internal/testutil/golden" // defines -update for go test ./... -update
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
  namespace: default
`

func TestIntegrationSharedPair(t *testing.T) {
	cp, app := SharedPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for _, c := range []*Cluster{cp, app} {
		u, err := url.Parse(c.Config.Host)
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1", u.Hostname(), "%s listens on loopback", c.Name)
	}
	assert.NotEqual(t, cp.Config.Host, app.Config.Host, "two servers")

	objs, err := DecodeObjects([]byte(widgetCRD))
	require.NoError(t, err)
	require.NoError(t, app.ApplyObjects(ctx, objs), "CRD and instance in one call")
	require.NoError(t, app.ApplyObjects(ctx, objs), "applying twice is a no-op")
	require.NoError(t, app.WaitEstablished(ctx, "widgets.example.com"))

	var crd apiextensionsv1.CustomResourceDefinition
	err = cp.Client.Get(ctx, client.ObjectKey{Name: "widgets.example.com"}, &crd)
	assert.True(t, apierrors.IsNotFound(err), "the CRD went to the app cluster only: %v", err)
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	err = cp.WaitEstablished(short, "widgets.example.com")
	assert.ErrorContains(t, err, `widgets.example.com: customresourcedefinitions.apiextensions.k8s.io "widgets.example.com" not found`,
		"the error says why the wait failed")

	kubeconfig, err := clientcmd.BuildConfigFromFlags("", app.WriteKubeconfig(t))
	require.NoError(t, err)
	fromFile, err := client.New(kubeconfig, client.Options{Scheme: Scheme()})
	require.NoError(t, err)
	require.NoError(t, fromFile.Get(ctx, client.ObjectKey{Name: "widgets.example.com"}, &crd), "the kubeconfig reaches the app cluster")

	nobody, err := cp.Impersonate("default", "nobody")
	require.NoError(t, err)
	err = nobody.List(ctx, &corev1.SecretList{})
	assert.True(t, apierrors.IsForbidden(err), "a ServiceAccount without RBAC cannot list secrets: %v", err)
}

func TestDecodeObjectsSkipsEmptyDocuments(t *testing.T) {
	objs, err := DecodeObjects([]byte("---\n# comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"))
	require.NoError(t, err)
	require.Len(t, objs, 1)
	assert.Equal(t, "a", objs[0].GetName())
}

func TestAssetsDir(t *testing.T) {
	t.Run("names the missing binary", func(t *testing.T) {
		dir := t.TempDir()
		t.Setenv("KUBEBUILDER_ASSETS", dir)
		_, err := AssetsDir()
		assert.ErrorContains(t, err, "kube-apiserver not found in "+dir)
	})
	t.Run("refuses a binary that is not executable", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "kube-apiserver"), []byte("#!/bin/sh\n"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "etcd"), []byte("#!/bin/sh\n"), 0o644))
		t.Setenv("KUBEBUILDER_ASSETS", dir)
		_, err := AssetsDir()
		assert.ErrorContains(t, err, "etcd in "+dir+" is not executable")
	})
	t.Run("takes KUBEBUILDER_ASSETS when both binaries are there", func(t *testing.T) {
		dir := t.TempDir()
		for _, bin := range []string{"kube-apiserver", "etcd"} {
			require.NoError(t, os.WriteFile(filepath.Join(dir, bin), []byte("#!/bin/sh\n"), 0o755))
		}
		t.Setenv("KUBEBUILDER_ASSETS", dir)
		got, err := AssetsDir()
		require.NoError(t, err)
		assert.Equal(t, dir, got)
	})
	t.Run("defaults to bin/k8s in the module root", func(t *testing.T) {
		t.Setenv("KUBEBUILDER_ASSETS", "")
		root, err := ModuleRoot()
		require.NoError(t, err)
		_, err = AssetsDir()
		if err != nil {
			assert.ErrorContains(t, err, filepath.Join(root, "bin", "k8s"))
		}
	})
}
