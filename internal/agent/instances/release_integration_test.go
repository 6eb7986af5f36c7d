package instances_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent/instances"
	"github.com/bindsync/bindsync/internal/render"
)

// Release with Orphan: the finalizers go, every copy stays.
func TestIntegrationReleaseOrphan(t *testing.T) {
	f := newFixture(t, "orphan", false)
	ns := "orphan-shop"
	f.createNamespace(f.app, ns)
	f.startSyncer(0)
	f.createApp(f.database(ns, "orders", "small", ""))
	f.createApp(f.database(ns, "users", "small", ""))
	f.waitCondition(metav1.ConditionTrue, v1alpha1.SucceededReason, "2 of 2 synced")

	f.syncer.Set(nil)
	eventually(t, 30*time.Second, func() error {
		done, err := f.syncer.Release(f.ctx, f.api, v1alpha1.DeletionOrphan)
		if err != nil {
			return err
		}
		if !done {
			return fmt.Errorf("not done")
		}
		return nil
	})
	time.Sleep(time.Second)
	for _, name := range []string{"orders", "users"} {
		a := mustApp(t, f, ns, name)
		assert.NotContains(t, a.GetFinalizers(), v1alpha1.InstanceFinalizer)
		c, err := f.copyOf(ns, name)
		require.NoError(t, err, "copy %s went with Orphan", name)
		assert.Nil(t, c.GetDeletionTimestamp())
	}
	// Deleting an orphaned app object leaves its copy.
	require.NoError(t, f.appDyn.Resource(f.gvr).Namespace(ns).Delete(f.ctx, "orders", metav1.DeleteOptions{}))
	time.Sleep(time.Second)
	_, err := f.copyOf(ns, "orders")
	require.NoError(t, err)
}

// Release with Delete: the app objects are deleted, each copy goes first,
// and Release is done only once nothing is left.
func TestIntegrationReleaseDelete(t *testing.T) {
	f := newFixture(t, "release", false)
	ns := "release-shop"
	f.createNamespace(f.app, ns)
	f.startSyncer(0)
	f.createApp(f.database(ns, "orders", "small", ""))
	f.createApp(f.database(ns, "users", "small", ""))
	f.waitCondition(metav1.ConditionTrue, v1alpha1.SucceededReason, "2 of 2 synced")
	f.waitProvided(ns, "orders", "users")

	f.holdDeletion.Store(true)
	f.syncer.Set(nil)
	done, err := f.syncer.Release(f.ctx, f.api, v1alpha1.DeletionDelete)
	require.NoError(t, err)
	assert.False(t, done, "done while app objects exist")
	time.Sleep(2 * time.Second)
	done, err = f.syncer.Release(f.ctx, f.api, v1alpha1.DeletionDelete)
	require.NoError(t, err)
	assert.False(t, done, "done while the provider holds the copies")
	for _, name := range []string{"orders", "users"} {
		a := mustApp(t, f, ns, name)
		assert.NotNil(t, a.GetDeletionTimestamp())
		c, err := f.copyOf(ns, name)
		require.NoError(t, err)
		assert.NotNil(t, c.GetDeletionTimestamp(), "copy %s not being deleted", name)
	}

	f.holdDeletion.Store(false)
	eventually(t, 30*time.Second, func() error {
		done, err := f.syncer.Release(f.ctx, f.api, v1alpha1.DeletionDelete)
		if err != nil {
			return err
		}
		if !done {
			return fmt.Errorf("not done")
		}
		return nil
	})
	for _, name := range []string{"orders", "users"} {
		_, err := f.copyOf(ns, name)
		require.NoError(t, notFound(err))
		_, err = f.appObject(ns, name)
		require.NoError(t, notFound(err))
	}
}

// A resync with nothing new writes nothing on either side.
func TestIntegrationResyncWritesNothing(t *testing.T) {
	f := newFixture(t, "idle", false)
	shop, blog := "idle-shop", "idle-blog"
	f.createNamespace(f.app, shop)
	f.createNamespace(f.app, blog)
	f.startSyncer(time.Second)
	for _, ns := range []string{shop, blog} {
		for _, name := range []string{"a", "b", "c"} {
			f.createApp(f.database(ns, name, "small", name+"-conn"))
		}
	}
	require.NoError(t, f.app.Client.Create(f.ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "params", Namespace: shop, Labels: map[string]string{claimedLabel: "true"}},
		Data:       map[string]string{"k": "v"}}))
	f.waitCondition(metav1.ConditionTrue, v1alpha1.SucceededReason, "6 of 6 synced")
	eventually(t, 30*time.Second, func() error {
		for _, ns := range []string{shop, blog} {
			for _, name := range []string{"a", "b", "c"} {
				var s corev1.Secret
				if err := f.app.Client.Get(f.ctx, client.ObjectKey{Namespace: ns, Name: name + "-conn"}, &s); err != nil {
					return err
				}
				a := mustApp(t, f, ns, name)
				if _, ok := a.Object["status"]; !ok {
					return fmt.Errorf("%s/%s has no status yet", ns, name)
				}
			}
		}
		var cm corev1.ConfigMap
		return f.cp.Client.Get(f.ctx, client.ObjectKey{Namespace: render.InstanceNamespace(f.cluster, shop), Name: "params"}, &cm)
	})
	time.Sleep(2 * time.Second) // the provider is done too
	cpBefore, appBefore := f.cpWrites.Load(), f.appWrites.Load()
	time.Sleep(5 * time.Second) // several resyncs (every second)
	assert.Zero(t, f.cpWrites.Load()-cpBefore, "writes on the control plane during resyncs with nothing new")
	assert.Zero(t, f.appWrites.Load()-appBefore, "writes in the app cluster during resyncs with nothing new")
	assert.NotZero(t, cpBefore, "the counter saw no writes at all")
}

// A cluster-scoped bound API is not synced, and its binding says so.
func TestIntegrationClusterScopedNotSynced(t *testing.T) {
	f := newFixture(t, "scoped", false)
	f.startSyncer(0)
	scoped := instances.API{Binding: "widgets." + f.gvr.Group, GVK: f.api.GVK.GroupVersion().WithKind("Widget"), Resource: "widgets"}
	require.NoError(t, f.app.Client.Create(f.ctx, &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: scoped.Binding}}))
	f.syncer.Set([]instances.API{f.api, scoped})
	eventually(t, 30*time.Second, func() error {
		var b v1alpha1.APIServiceBinding
		if err := f.app.Client.Get(f.ctx, client.ObjectKey{Name: scoped.Binding}, &b); err != nil {
			return err
		}
		c := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.InstancesSyncedCondition)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != v1alpha1.UnsupportedScopeReason {
			return fmt.Errorf("InstancesSynced of the cluster-scoped binding is %+v", c)
		}
		return nil
	})
	done, err := f.syncer.Release(f.ctx, scoped, v1alpha1.DeletionDelete)
	require.NoError(t, err)
	assert.True(t, done, "nothing of a cluster-scoped API is synced, so nothing waits")
}
