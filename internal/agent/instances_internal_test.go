package agent

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent/instances"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// crdWithVersions is a CRD of kind Widget, plural widgets, in group g.test,
// with the versions given as name -> storage.
func crdWithVersions(scope string, versions ...any) *unstructured.Unstructured {
	var vs []any
	for i := 0; i+1 < len(versions); i += 2 {
		vs = append(vs, map[string]any{"name": versions[i], "served": true, "storage": versions[i+1]})
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets.g.test"},
		"spec": map[string]any{
			"group": "g.test", "scope": scope,
			"names":    map[string]any{"plural": "widgets", "kind": "Widget"},
			"versions": vs,
		},
	}}
}

func TestAPIOfACRDIsItsStorageVersion(t *testing.T) {
	api, err := apiOf(crdWithVersions("Namespaced", "v1", false, "v2", true, "v3", false))
	require.NoError(t, err)
	assert.Equal(t, instances.API{
		Binding: "widgets.g.test", GVK: schema.GroupVersionKind{Group: "g.test", Version: "v2", Kind: "Widget"},
		Resource: "widgets", Namespaced: true,
	}, api, "the sync reads and writes through the version the CRD stores, not the first or the newest")

	api, err = apiOf(crdWithVersions("Cluster", "v1", true))
	require.NoError(t, err)
	assert.False(t, api.Namespaced, "scope Cluster")

	_, err = apiOf(crdWithVersions("Namespaced", "v1", false))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CustomResourceDefinition widgets.g.test: no kind, plural or storage version")
}

// TestSetIsGivenTheReadyBindings: the Syncer syncs exactly the live,
// Ready bindings' APIs; a failed, orphaned or deleted binding is not among
// them.
func TestSetIsGivenTheReadyBindings(t *testing.T) {
	api := func(name string) *instances.API {
		return &instances.API{Binding: name, GVK: schema.GroupVersionKind{Group: "g.test", Version: "v1", Kind: "K"}, Resource: name, Namespaced: true}
	}
	now := metav1.Now()
	bindings := []v1alpha1.APIServiceBinding{
		{ObjectMeta: metav1.ObjectMeta{Name: "ready.g.test"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "failed.g.test"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "orphaned.g.test"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "deleted.g.test", DeletionTimestamp: &now}},
		{ObjectMeta: metav1.ObjectMeta{Name: "nostate.g.test"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "also-ready.g.test"}},
	}
	p := newPass(Options{Cluster: "c"}, bindings)
	p.states["ready.g.test"] = &outcome{api: api("ready.g.test")}
	p.states["failed.g.test"] = &outcome{api: api("failed.g.test"), reason: v1alpha1.ApplyFailedReason}
	p.states["orphaned.g.test"] = &outcome{api: api("orphaned.g.test"), orphaned: true}
	p.states["deleted.g.test"] = &outcome{api: api("deleted.g.test")}
	p.states["also-ready.g.test"] = &outcome{api: api("also-ready.g.test")}

	got := p.readyAPIs()
	require.Len(t, got, 2)
	assert.Equal(t, *api("ready.g.test"), got[0])
	assert.Equal(t, *api("also-ready.g.test"), got[1])
	assert.Empty(t, newPass(Options{Cluster: "c"}, nil).readyAPIs())
}

// TestSelectBoundRecordsTheAPI: a bound CRD of the build gives its binding
// the API the Syncer is told about.
func TestSelectBoundRecordsTheAPI(t *testing.T) {
	crd := renderedCRD(t, "things", "g.test")
	crd.SetLabels(map[string]string{v1alpha1.ManagedLabel: "true", v1alpha1.ClusterLabel: "c"})
	p := newPass(Options{Cluster: "c"}, []v1alpha1.APIServiceBinding{{ObjectMeta: metav1.ObjectMeta{Name: "things.g.test"}}})
	bound, refused := p.selectBound([]built{{obj: crd}})
	require.Empty(t, refused)
	require.Len(t, bound, 1)
	assert.Equal(t, []instances.API{{Binding: "things.g.test", GVK: schema.GroupVersionKind{Group: "g.test", Version: "v1", Kind: "Kthings"},
		Resource: "things", Namespaced: true}}, p.readyAPIs())
}

func TestInstancesSyncedCondition(t *testing.T) {
	synced := metav1.Condition{Type: v1alpha1.InstancesSyncedCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.SucceededReason, Message: "40 of 40 synced"}
	noCP := metav1.Condition{Type: v1alpha1.InstancesSyncedCondition, Status: metav1.ConditionFalse, Reason: v1alpha1.NoControlPlaneReason, Message: noControlPlaneMessage}
	counts := &v1alpha1.InstanceCounts{Synced: 40}
	tests := []struct {
		name      string
		mode      instanceMode
		ready     bool
		before    []metav1.Condition
		instances *v1alpha1.InstanceCounts
		want      *metav1.Condition // nil: no InstancesSynced condition
		keepCount bool
	}{
		{name: "off: no condition", mode: instancesOff, ready: true},
		{name: "off: an earlier run's condition and counts are removed", mode: instancesOff, ready: true,
			before: []metav1.Condition{synced}, instances: counts},
		{name: "no control plane: a Ready binding says so", mode: instancesNoControlPlane, ready: true, want: &noCP},
		{name: "no control plane: counts of an earlier run go", mode: instancesNoControlPlane, ready: true,
			before: []metav1.Condition{synced}, instances: counts, want: &noCP},
		{name: "no control plane: a binding that is not Ready gets nothing", mode: instancesNoControlPlane},
		{name: "synced: the Syncer's condition and counts are left alone", mode: instancesSynced, ready: true,
			before: []metav1.Condition{synced}, instances: counts, want: &synced, keepCount: true},
		{name: "synced: NoControlPlane of an earlier run goes", mode: instancesSynced, ready: true,
			before: []metav1.Condition{noCP}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := v1alpha1.APIServiceBindingStatus{Conditions: append([]metav1.Condition(nil), tt.before...), Instances: tt.instances.DeepCopy()}
			setInstancesStatus(&st, tt.mode, 3, tt.ready)
			got := meta.FindStatusCondition(st.Conditions, v1alpha1.InstancesSyncedCondition)
			if tt.want == nil {
				assert.Nil(t, got)
			} else {
				require.NotNil(t, got)
				assert.Equal(t, tt.want.Status, got.Status)
				assert.Equal(t, tt.want.Reason, got.Reason)
				assert.Equal(t, tt.want.Message, got.Message)
			}
			if tt.keepCount {
				assert.Equal(t, counts, st.Instances)
			} else {
				assert.Nil(t, st.Instances)
			}
		})
	}
}

func TestInstanceSyncWithAControlPlaneNeedsASyncer(t *testing.T) {
	_, err := New(&rest.Config{Host: "https://127.0.0.1:1"}, nil, nil, Options{Cluster: "c", SyncInstances: true, ControlPlane: &rest.Config{Host: "https://127.0.0.1:2"}})
	require.ErrorIs(t, err, errNoSyncer)
}

// failingSource fails every Get with err.
type failingSource struct{ err error }

func (s failingSource) Get(context.Context) (*source.Snapshot, bool, error) { return nil, false, s.err }

// TestAFailedFetchOrBuildKeepsTheSyncedSet: a pass whose source or build
// failed marks every binding not Ready, but it does not tell the Syncer:
// nothing stops syncing because git is away or a commit does not build. A
// pass that built the folder does.
func TestAFailedFetchOrBuildKeepsTheSyncedSet(t *testing.T) {
	binding := &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: "widgets.g.test", Finalizers: []string{v1alpha1.AgentFinalizer}}}
	dir := "clusters/c/app"
	for name, src := range map[string]Source{
		"source unavailable": failingSource{errors.New("git: connection refused")},
		"signature invalid":  failingSource{fmt.Errorf("head: %w", source.ErrSignatureInvalid)},
		"build failed": fixedSource{&source.Snapshot{Revision: staterepo.Revision{Branch: "main"}, FS: fstest.MapFS{
			dir + "/kustomization.yaml": {Data: []byte("resources: [missing.yaml]\n")},
		}}},
	} {
		t.Run(name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(newScheme()).WithObjects(binding.DeepCopy()).
				WithStatusSubresource(&v1alpha1.APIServiceBinding{}).Build()
			syncer := &fakeSyncer{t: t, c: c}
			ag, err := New(&rest.Config{Host: "https://127.0.0.1:1"}, c, src,
				Options{Cluster: "c", SyncInstances: true, ControlPlane: &rest.Config{Host: "https://127.0.0.1:1"}, Instances: syncer})
			require.NoError(t, err)
			ag.exports = nil // no control plane to report back to here
			_, err = ag.Sync(context.Background())
			require.Error(t, err)
			var b v1alpha1.APIServiceBinding
			require.NoError(t, c.Get(context.Background(), client.ObjectKey{Name: binding.Name}, &b))
			ready := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ReadyCondition)
			require.NotNil(t, ready)
			assert.True(t, sourceReasons[ready.Reason], "not Ready for a source or build reason: %s", ready.Reason)
			assert.Empty(t, syncer.sets, "the Syncer keeps what it syncs")
		})
	}
}
