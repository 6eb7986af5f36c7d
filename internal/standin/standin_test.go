package standin_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/standin"
	"github.com/bindsync/bindsync/internal/testenv"
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // defines -update for go test ./... -update
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

var pg = schema.GroupVersionResource{Group: "anynines.com", Version: "v1", Resource: "postgresqlinstances"}

func TestOptionsValidate(t *testing.T) {
	for name, o := range map[string]standin.Options{
		"no config":           {Resources: []schema.GroupVersionResource{pg}},
		"no resource":         {Config: &rest.Config{}},
		"resource no version": {Config: &rest.Config{}, Resources: []schema.GroupVersionResource{{Group: "g", Resource: "r"}}},
		"negative delay":      {Config: &rest.Config{}, Resources: []schema.GroupVersionResource{pg}, Deprovision: -time.Second},
	} {
		t.Run(name, func(t *testing.T) { assert.Error(t, o.Validate()) })
	}
}

func TestIntegrationStandinProvisionsAndDeprovisions(t *testing.T) {
	cp := testenv.Start(t, testenv.ControlPlaneName)
	root, err := testenv.ModuleRoot()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err = cp.InstallCRDs(ctx, filepath.Join(root, "testdata", "crds", "klutch", "postgresqlinstances.anynines.com.yaml"))
	require.NoError(t, err)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bsi-team-a-shop"}}
	require.NoError(t, cp.Client.Create(ctx, ns))

	const delay = 3 * time.Second
	p, err := standin.New(standin.Options{Config: cp.Config, Resources: []schema.GroupVersionResource{pg},
		Selector: v1alpha1.ClusterLabel, Deprovision: delay, Log: testr.New(t)})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	defer func() { stop(); require.NoError(t, <-done) }()

	inst := instance("orders-db", ns.Name, map[string]string{v1alpha1.ClusterLabel: "team-a"}, "orders-db-credentials")
	other := instance("not-a-copy", ns.Name, nil, "")
	require.NoError(t, cp.Client.Create(ctx, inst))
	require.NoError(t, cp.Client.Create(ctx, other))

	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(inst.GroupVersionKind())
	eventually(t, "the copy is Ready with its finalizer, resourceRef and Secret", func() bool {
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(inst), got))
		return readyStatus(got) == "True" && slices.Contains(got.GetFinalizers(), standin.Finalizer)
	})
	ref, _, _ := unstructured.NestedString(got.Object, "spec", "resourceRef", "name")
	assert.NotEmpty(t, ref, "the provider sets its own spec field")
	published, _, _ := unstructured.NestedString(got.Object, "status", "connectionDetails", "lastPublishedTime")
	assert.NotEmpty(t, published)
	var secret corev1.Secret
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "orders-db-credentials"}, &secret),
		"the Secret is named by spec.writeConnectionSecretToRef.name")
	for _, k := range []string{"host", "port", "username", "password"} {
		assert.NotEmpty(t, secret.Data[k], "connection secret key %s", k)
	}

	// An object outside the selector is left alone.
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(other), got))
	assert.Empty(t, got.GetFinalizers(), "the selector leaves other objects alone")
	assert.Empty(t, readyStatus(got))
	err = cp.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "not-a-copy-conn"}, &corev1.Secret{})
	assert.True(t, apierrors.IsNotFound(err), "no Secret for an object outside the selector: %v", err)

	// Deletion waits for the deprovisioning delay, then the Secret and the object go.
	deleted := time.Now()
	require.NoError(t, cp.Client.Delete(ctx, inst))
	time.Sleep(delay / 2)
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(inst), got), "held while deprovisioning")
	assert.NotNil(t, got.GetDeletionTimestamp())
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(&secret), &corev1.Secret{}), "the Secret stays while deprovisioning")
	eventually(t, "the copy is gone", func() bool {
		return apierrors.IsNotFound(cp.Client.Get(ctx, client.ObjectKeyFromObject(inst), got))
	})
	// The deletion timestamp has a resolution of one second.
	assert.GreaterOrEqual(t, time.Since(deleted), delay-time.Second, "held for the deprovisioning delay")
	err = cp.Client.Get(ctx, client.ObjectKeyFromObject(&secret), &corev1.Secret{})
	assert.True(t, apierrors.IsNotFound(err), "the Secret is deleted with the object: %v", err)
}

func instance(name, ns string, labels map[string]string, secret string) *unstructured.Unstructured {
	spec := map[string]any{"service": "a9s-postgresql15", "plan": "postgresql-single-small",
		"compositionRef": map[string]any{"name": "a9s-postgresql"}}
	if secret != "" {
		spec["writeConnectionSecretToRef"] = map[string]any{"name": secret}
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "anynines.com/v1", "kind": "PostgresqlInstance",
		"metadata": map[string]any{"name": name, "namespace": ns}, "spec": spec}}
	u.SetLabels(labels)
	return u
}

func readyStatus(u *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
			s, _ := m["status"].(string)
			return s
		}
	}
	return ""
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting until %s", what)
}
