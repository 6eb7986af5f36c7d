package agent

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent/instances"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// releaseCall is one call of fakeSyncer.Release, with what the app cluster
// held when it was made.
type releaseCall struct {
	api    instances.API
	policy v1alpha1.DeletionPolicy
	// crdLabelled: the CRD existed with bindsync's labels at the call.
	crdLabelled bool
	done        bool
}

// fakeSyncer stands in for the instance sync: it records what the agent
// tells it, and its Release is done only when the test says so (release
// runs first, then).
type fakeSyncer struct {
	t      *testing.T
	c      client.Client
	mu     sync.Mutex
	sets   [][]instances.API
	calls  []releaseCall
	done   map[string]bool
	before map[string]func() // run by Release when it is done
}

func (f *fakeSyncer) Set(apis []instances.API) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sets = append(f.sets, append([]instances.API(nil), apis...))
}

func (f *fakeSyncer) Release(ctx context.Context, api instances.API, policy v1alpha1.DeletionPolicy) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var crd apiextensionsv1.CustomResourceDefinition
	err := f.c.Get(ctx, client.ObjectKey{Name: api.Binding}, &crd)
	require.NoError(f.t, client.IgnoreNotFound(err))
	labelled := err == nil && crd.Labels[v1alpha1.ManagedLabel] == "true"
	done := f.done[api.Binding]
	if done && f.before[api.Binding] != nil {
		f.before[api.Binding]()
		f.before[api.Binding] = nil
	}
	f.calls = append(f.calls, releaseCall{api: api, policy: policy, crdLabelled: labelled, done: done})
	return done, nil
}

func (f *fakeSyncer) lastSet() []instances.API {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sets) == 0 {
		return nil
	}
	return f.sets[len(f.sets)-1]
}

func (f *fakeSyncer) callsFor(binding string) []releaseCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []releaseCall
	for _, c := range f.calls {
		if c.api.Binding == binding {
			out = append(out, c)
		}
	}
	return out
}

// TestIntegrationReleaseInstancesBeforeTheCRD: a deleted binding's
// instances are released (the Syncer's Release, with the binding's
// deletionPolicy) before its CRD step, and the binding and its finalizer
// stay until Release is done. On a real API server, with a fake Syncer:
// with Delete, the CRD is never deleted while Release is not done (it is
// deleted once the Syncer has deleted the app objects); with Orphan,
// Release is called with Orphan and the CRD is orphaned after it; a CRD
// bindsync does not manage is released with Orphan whatever the binding
// asks.
func TestIntegrationReleaseInstancesBeforeTheCRD(t *testing.T) {
	app := testenv.Start(t, testenv.AppName)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	root, err := testenv.ModuleRoot()
	require.NoError(t, err)
	names, err := app.InstallCRDs(ctx, filepath.Join(root, "config", "crd"))
	require.NoError(t, err)
	require.NoError(t, app.WaitEstablished(ctx, names...))

	const cluster, group = "releasing", "release.agent.bindsync.test"
	dir := "clusters/" + cluster + "/app"
	files := fstest.MapFS{dir + "/kustomization.yaml": {Data: []byte(
		"labels:\n- pairs: {bindsync.io/managed: \"true\", bindsync.io/cluster: " + cluster + "}\nresources:\n- crds/deletes.yaml\n- crds/orphans.yaml\n")}}
	for _, plural := range []string{"deletes", "orphans"} {
		data, err := yaml.Marshal(renderedCRD(t, plural, group).Object)
		require.NoError(t, err)
		files[dir+"/crds/"+plural+".yaml"] = &fstest.MapFile{Data: data}
	}
	snap := fixedSource{snap: &source.Snapshot{Revision: staterepo.Revision{Branch: "main"}, FS: files}}
	fake := &fakeSyncer{t: t, c: app.Client, done: map[string]bool{}, before: map[string]func(){}}
	// Any control plane will do for this test: the fake is the sync.
	ag, err := New(app.Config, app.Client, snap, Options{Cluster: cluster, SyncInstances: true, ControlPlane: app.Config, Instances: fake})
	require.NoError(t, err)

	deletes, orphans := "deletes."+group, "orphans."+group
	for name, policy := range map[string]v1alpha1.DeletionPolicy{deletes: v1alpha1.DeletionDelete, orphans: v1alpha1.DeletionOrphan} {
		require.NoError(t, app.Client.Create(ctx, &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.APIServiceBindingSpec{DeletionPolicy: policy}}))
	}
	res, err := ag.Sync(ctx)
	require.NoError(t, err)
	require.False(t, res.Waiting)
	assert.ElementsMatch(t, []instances.API{
		{Binding: deletes, GVK: schema.GroupVersionKind{Group: group, Version: "v1", Kind: "Kdeletes"}, Resource: "deletes", Namespaced: true},
		{Binding: orphans, GVK: schema.GroupVersionKind{Group: group, Version: "v1", Kind: "Korphans"}, Resource: "orphans", Namespaced: true},
	}, fake.lastSet(), "both bindings are Ready: the Syncer syncs both")
	for _, name := range []string{deletes, orphans} {
		b := getBindingIn(ctx, t, app.Client, name)
		assert.Nil(t, meta.FindStatusCondition(b.Status.Conditions, v1alpha1.InstancesSyncedCondition),
			"%s: the Syncer writes InstancesSynced, not the agent", name)
	}

	instance := func(plural, name string) *unstructured.Unstructured {
		o := &unstructured.Unstructured{}
		o.SetAPIVersion(group + "/v1")
		o.SetKind("K" + plural)
		o.SetNamespace("default")
		o.SetName(name)
		return o
	}
	require.NoError(t, app.Client.Create(ctx, instance("deletes", "db")))
	require.NoError(t, app.Client.Create(ctx, instance("orphans", "db")))
	for _, name := range []string{deletes, orphans} {
		require.NoError(t, app.Client.Delete(ctx, &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	}

	// Release is not done: nothing of either CRD step happens, the
	// bindings stay with their finalizer and say why, and the pass asks to
	// be run again soon.
	for range 2 {
		res, err = ag.Sync(ctx)
		require.NoError(t, err)
		assert.True(t, res.Waiting)
	}
	assert.Empty(t, fake.lastSet(), "deleted bindings leave the set: Release decides about their objects")
	for name, policy := range map[string]v1alpha1.DeletionPolicy{deletes: v1alpha1.DeletionDelete, orphans: v1alpha1.DeletionOrphan} {
		calls := fake.callsFor(name)
		require.Len(t, calls, 2, name)
		for _, c := range calls {
			assert.Equal(t, policy, c.policy, "%s: Release is given the binding's deletionPolicy", name)
			assert.Equal(t, "v1", c.api.GVK.Version, name)
		}
		crd := getCRDIn(ctx, t, app.Client, name)
		assert.Equal(t, "true", crd.Labels[v1alpha1.ManagedLabel], "%s: the CRD step waits for Release", name)
		b := getBindingIn(ctx, t, app.Client, name)
		assert.Contains(t, b.Finalizers, v1alpha1.AgentFinalizer, name)
		ready := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ReadyCondition)
		require.NotNil(t, ready, name)
		assert.Equal(t, v1alpha1.InstancesExistReason, ready.Reason, name)
		assert.Contains(t, ready.Message, "deletionPolicy "+string(policy), name)
	}

	// Release done: with Delete the Syncer has deleted the app objects (the
	// fake deletes them as it reports done), and only then the CRD goes;
	// with Orphan the CRD is orphaned and the instance kept.
	var releasedBeforeDelete bool
	ag.beforeDelete = func(string) {
		c := fake.callsFor(deletes)
		releasedBeforeDelete = len(c) > 0 && c[len(c)-1].done
	}
	fake.done[deletes], fake.done[orphans] = true, true
	fake.before[deletes] = func() { require.NoError(t, app.Client.Delete(ctx, instance("deletes", "db"))) }
	res, err = ag.Sync(ctx)
	require.NoError(t, err)
	assert.False(t, res.Waiting)
	assert.True(t, releasedBeforeDelete, "the CRD is deleted only after Release reported done")
	for _, c := range append(fake.callsFor(deletes), fake.callsFor(orphans)...) {
		assert.True(t, c.crdLabelled, "every Release call comes before the CRD step")
	}
	require.Eventually(t, func() bool {
		_, err := getCRDMaybe(ctx, app.Client, deletes)
		return apierrors.IsNotFound(err)
	}, 30*time.Second, 100*time.Millisecond, "deletionPolicy Delete: the CRD is deleted after its instances")
	crd := getCRDIn(ctx, t, app.Client, orphans)
	assert.Empty(t, crd.Labels[v1alpha1.ManagedLabel], "deletionPolicy Orphan: the CRD is released")
	require.NoError(t, app.Client.Get(ctx, client.ObjectKeyFromObject(instance("orphans", "db")), instance("orphans", "db")), "and its instance kept")
	for _, name := range []string{deletes, orphans} {
		err := app.Client.Get(ctx, client.ObjectKey{Name: name}, &v1alpha1.APIServiceBinding{})
		assert.True(t, apierrors.IsNotFound(err), "%s: the binding goes once released: %v", name, err)
	}

	// A CRD that is not bindsync's: Release with Orphan, even under Delete.
	foreign := renderedCRD(t, "foreigns", group)
	require.NoError(t, app.Client.Create(ctx, foreign))
	require.NoError(t, app.Client.Create(ctx, &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: foreign.GetName()}, Spec: v1alpha1.APIServiceBindingSpec{DeletionPolicy: v1alpha1.DeletionDelete}}))
	_, _ = ag.Sync(ctx) // the finalizer
	require.NoError(t, app.Client.Delete(ctx, &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: foreign.GetName()}}))
	fake.done[foreign.GetName()] = true
	_, _ = ag.Sync(ctx)
	calls := fake.callsFor(foreign.GetName())
	require.Len(t, calls, 1)
	assert.Equal(t, v1alpha1.DeletionOrphan, calls[0].policy, "objects of a CRD bindsync does not manage are never deleted")
	getCRDIn(ctx, t, app.Client, foreign.GetName())
}

func getBindingIn(ctx context.Context, t *testing.T, c client.Client, name string) *v1alpha1.APIServiceBinding {
	t.Helper()
	var b v1alpha1.APIServiceBinding
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: name}, &b))
	return &b
}

func getCRDMaybe(ctx context.Context, c client.Client, name string) (*apiextensionsv1.CustomResourceDefinition, error) {
	var crd apiextensionsv1.CustomResourceDefinition
	err := c.Get(ctx, client.ObjectKey{Name: name}, &crd)
	return &crd, err
}

func getCRDIn(ctx context.Context, t *testing.T, c client.Client, name string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	crd, err := getCRDMaybe(ctx, c, name)
	require.NoError(t, err)
	return crd
}
