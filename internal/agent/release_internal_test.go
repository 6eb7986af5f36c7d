package agent

import (
	"context"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// fixedSource serves one snapshot.
type fixedSource struct{ snap *source.Snapshot }

func (s fixedSource) Get(context.Context) (*source.Snapshot, bool, error) { return s.snap, true, nil }

// TestIntegrationDeleteGuard: deletionPolicy Delete deletes a CRD found
// without instances, and an instance created between that check and the
// delete is never deleted with it: the agent guards the CRD first (the API
// server refuses every create, naming bindsync), looks again, and deletes
// with the guarded CRD's resourceVersion as precondition. On a real API
// server: an instance created after the first count keeps the CRD (and the
// guard comes off again); a create attempted right before the delete is
// refused.
func TestIntegrationDeleteGuard(t *testing.T) {
	app := testenv.Start(t, testenv.AppName)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := testenv.ModuleRoot()
	require.NoError(t, err)
	names, err := app.InstallCRDs(ctx, filepath.Join(root, "config", "crd"))
	require.NoError(t, err)
	require.NoError(t, app.WaitEstablished(ctx, names...))

	const cluster, group = "guarded", "guard.agent.bindsync.test"
	crd := renderedCRD(t, "guards", group)
	data, err := yaml.Marshal(crd.Object)
	require.NoError(t, err)
	dir := "clusters/" + cluster + "/app"
	snap := &source.Snapshot{Revision: staterepo.Revision{Branch: "main"}, FS: fstest.MapFS{
		dir + "/kustomization.yaml": {Data: []byte("labels:\n- pairs: {bindsync.io/managed: \"true\", bindsync.io/cluster: " + cluster + "}\nresources:\n- crds/guards.yaml\n")},
		dir + "/crds/guards.yaml":   {Data: data},
	}}
	ag, err := New(app.Config, app.Client, fixedSource{snap}, Options{Cluster: cluster})
	require.NoError(t, err)
	b := &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: crd.GetName()}, Spec: v1alpha1.APIServiceBindingSpec{DeletionPolicy: v1alpha1.DeletionDelete}}
	require.NoError(t, app.Client.Create(ctx, b))
	_, err = ag.Sync(ctx)
	require.NoError(t, err)

	instance := func(name string) *unstructured.Unstructured {
		inst := &unstructured.Unstructured{}
		inst.SetAPIVersion(group + "/v1")
		inst.SetKind("Kguards")
		inst.SetNamespace("default")
		inst.SetName(name)
		return inst
	}

	// An instance created after the first count, before the guard: the
	// second count finds it, the CRD stays and the guard comes off.
	ag.afterCount = func(string) { require.NoError(t, app.Client.Create(ctx, instance("early"))) }
	require.NoError(t, app.Client.Delete(ctx, b))
	_, err = ag.Sync(ctx)
	require.NoError(t, err)
	require.NoError(t, app.Client.Get(ctx, client.ObjectKey{Name: crd.GetName()}, crd.DeepCopy()), "the CRD is kept")
	require.NoError(t, app.Client.Get(ctx, client.ObjectKey{Name: b.Name}, b))
	ready := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ReadyCondition)
	require.NotNil(t, ready)
	assert.Equal(t, v1alpha1.InstancesExistReason, ready.Reason)
	require.Eventually(t, func() bool { return app.Client.Create(ctx, instance("after")) == nil }, 10*time.Second, 100*time.Millisecond,
		"the guard is taken off: instances can be created again")
	require.NoError(t, app.Client.Delete(ctx, instance("early")))
	require.NoError(t, app.Client.Delete(ctx, instance("after")))
	ag.afterCount = nil

	// A create attempted right before the delete is refused by the guard,
	// and the CRD, still without instances, is deleted.
	var createErr error
	created := false
	ag.beforeDelete = func(string) {
		createErr = app.Client.Create(ctx, instance("late"))
		created = createErr == nil
	}
	_, err = ag.Sync(ctx)
	require.NoError(t, err)

	assert.False(t, created, "no instance can be created once the agent is about to delete the CRD")
	if createErr != nil {
		assert.Contains(t, createErr.Error(), deleteGuardMessage)
	}
	require.Eventually(t, func() bool {
		err := app.Client.Get(ctx, client.ObjectKey{Name: crd.GetName()}, crd.DeepCopy())
		return apierrors.IsNotFound(err)
	}, 30*time.Second, 100*time.Millisecond, "the CRD, without instances, is deleted")
}
