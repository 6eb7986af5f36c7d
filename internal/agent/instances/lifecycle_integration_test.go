package instances_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent/instances"
)

// A spec edit reaches the copy; the provider's own spec field is kept; a
// field and a label the app object drops are dropped from the copy.
func TestIntegrationSpecEdits(t *testing.T) {
	f := newFixture(t, "edits", false)
	ns := "edits-shop"
	f.createNamespace(f.app, ns)
	f.startSyncer(0)
	o := f.database(ns, "orders", "small", "")
	o.SetLabels(map[string]string{"tier": "gold"})
	f.createApp(o)
	eventually(t, 30*time.Second, func() error {
		c, err := f.copyOf(ns, "orders")
		if err != nil {
			return err
		}
		if _, ok, _ := unstructured.NestedString(c.Object, "spec", "resourceRef", "name"); !ok {
			return fmt.Errorf("the provider has not set its field yet")
		}
		return nil
	})

	// Edit the plan, drop size and the label.
	eventually(t, 10*time.Second, func() error {
		a, err := f.appObject(ns, "orders")
		if err != nil {
			return err
		}
		_ = unstructured.SetNestedField(a.Object, "large", "spec", "plan")
		unstructured.RemoveNestedField(a.Object, "spec", "size")
		a.SetLabels(nil)
		_, err = f.appDyn.Resource(f.gvr).Namespace(ns).Update(f.ctx, a, metav1.UpdateOptions{})
		return err
	})
	eventually(t, 30*time.Second, func() error {
		c, err := f.copyOf(ns, "orders")
		if err != nil {
			return err
		}
		spec, _, _ := unstructured.NestedMap(c.Object, "spec")
		if spec["plan"] != "large" {
			return fmt.Errorf("copy spec %v: plan not updated", spec)
		}
		if _, ok := spec["size"]; ok {
			return fmt.Errorf("copy spec %v: size was removed from the app object and is still there", spec)
		}
		if _, ok := c.GetLabels()["tier"]; ok {
			return fmt.Errorf("copy labels %v: tier was removed from the app object", c.GetLabels())
		}
		return nil
	})
	c, err := f.copyOf(ns, "orders")
	require.NoError(t, err)
	ref, _, _ := unstructured.NestedString(c.Object, "spec", "resourceRef", "name")
	assert.Equal(t, "pg-orders", ref, "the provider's own spec field was fought")
	eventually(t, 30*time.Second, func() error {
		a, err := f.appObject(ns, "orders")
		if err != nil {
			return err
		}
		if p, _, _ := unstructured.NestedString(a.Object, "status", "plan"); p != "large" {
			return fmt.Errorf("app status %v does not show the new plan", a.Object["status"])
		}
		return nil
	})
}

// Deleting an app object deletes its copy first; while the provider holds
// the copy (deprovisioning), the app object waits.
func TestIntegrationDeleteWaitsForCopy(t *testing.T) {
	f := newFixture(t, "deletes", false)
	ns := "deletes-shop"
	f.createNamespace(f.app, ns)
	f.startSyncer(0)
	f.createApp(f.database(ns, "orders", "small", ""))
	f.waitCondition(metav1.ConditionTrue, v1alpha1.SucceededReason, "1 of 1 synced")
	f.waitProvided(ns, "orders")

	f.holdDeletion.Store(true)
	require.NoError(t, f.appDyn.Resource(f.gvr).Namespace(ns).Delete(f.ctx, "orders", metav1.DeleteOptions{}))
	eventually(t, 30*time.Second, func() error {
		c, err := f.copyOf(ns, "orders")
		if err != nil {
			return err
		}
		if c.GetDeletionTimestamp() == nil {
			return fmt.Errorf("copy not being deleted yet")
		}
		return nil
	})
	time.Sleep(2 * time.Second)
	a, err := f.appObject(ns, "orders")
	require.NoError(t, err, "the app object went while the provider still held its copy")
	assert.Contains(t, a.GetFinalizers(), v1alpha1.InstanceFinalizer)

	f.holdDeletion.Store(false)
	eventually(t, 30*time.Second, func() error {
		_, err := f.appObject(ns, "orders")
		return notFound(err)
	})
	_, err = f.copyOf(ns, "orders")
	require.NoError(t, notFound(err), "the app object went before its copy")
	f.waitCondition(metav1.ConditionTrue, v1alpha1.SucceededReason, "0 of 0 synced")
}

// Syncer stopped, app object force-deleted (finalizer removed), syncer
// started: the copy is kept and the app object made again from it, with an
// event and the binding's restored count.
func TestIntegrationRestoreForceDeleted(t *testing.T) {
	f := newFixture(t, "restore", false)
	ns := "restore-shop"
	f.createNamespace(f.app, ns)
	f.startSyncer(0)
	o := f.database(ns, "orders", "small", "")
	o.SetLabels(map[string]string{"tier": "gold"})
	f.createApp(o)
	eventually(t, 30*time.Second, func() error {
		a, err := f.appObject(ns, "orders")
		if err != nil {
			return err
		}
		if _, ok := a.Object["status"]; !ok {
			return fmt.Errorf("no status yet")
		}
		return nil
	})
	f.stop()

	f.removeFinalizers(ns, "orders")
	require.NoError(t, f.appDyn.Resource(f.gvr).Namespace(ns).Delete(f.ctx, "orders", metav1.DeleteOptions{}))
	_, err := f.appObject(ns, "orders")
	require.NoError(t, notFound(err))
	copyBefore, err := f.copyOf(ns, "orders")
	require.NoError(t, err)

	f.startSyncer(0)
	eventually(t, 30*time.Second, func() error {
		a, err := f.appObject(ns, "orders")
		if err != nil {
			return err
		}
		if p, _, _ := unstructured.NestedString(a.Object, "status", "phase"); p != "Ready" {
			return fmt.Errorf("restored object has status %v", a.Object["status"])
		}
		return nil
	})
	a, err := f.appObject(ns, "orders")
	require.NoError(t, err)
	plan, _, _ := unstructured.NestedString(a.Object, "spec", "plan")
	assert.Equal(t, "small", plan)
	assert.Equal(t, "gold", a.GetLabels()["tier"])
	for k := range a.GetAnnotations() {
		assert.NotContains(t, k, "bindsync.io/", "a bindsync annotation of the copy came down")
	}
	copyAfter, err := f.copyOf(ns, "orders")
	require.NoError(t, err)
	assert.Equal(t, copyBefore.GetUID(), copyAfter.GetUID(), "the copy was replaced")
	assert.Nil(t, copyAfter.GetDeletionTimestamp(), "the copy is being deleted")
	e, ok := f.events.find(ns+"/orders", v1alpha1.CopyRestoredReason)
	require.True(t, ok, "no CopyRestored event")
	assert.Contains(t, e.message, "restored from its provider copy")
	eventually(t, 30*time.Second, func() error {
		b, c := f.binding()
		if c == nil || c.Status != metav1.ConditionTrue || b.Status.Instances == nil || b.Status.Instances.Restored != 1 {
			return fmt.Errorf("binding instances %+v, condition %+v", b.Status.Instances, c)
		}
		return nil
	})
	// Synced again: the new app object's UID reaches the copy.
	eventually(t, 30*time.Second, func() error {
		c, err := f.copyOf(ns, "orders")
		if err != nil {
			return err
		}
		if c.GetAnnotations()[v1alpha1.ConsumerUIDAnnotation] != string(a.GetUID()) {
			return fmt.Errorf("copy still names the old app object")
		}
		return nil
	})
}

// Restarted with empty caches while the control plane is unreachable:
// nothing is deleted on either side, the binding says
// ControlPlaneUnavailable, a deletion waits; then it converges.
func TestIntegrationControlPlaneUnreachable(t *testing.T) {
	f := newFixture(t, "outage", true)
	ns := "outage-shop"
	f.createNamespace(f.app, ns)
	f.startSyncer(0)
	f.createApp(f.database(ns, "orders", "small", ""))
	f.createApp(f.database(ns, "users", "small", ""))
	f.waitCondition(metav1.ConditionTrue, v1alpha1.SucceededReason, "2 of 2 synced")
	f.stop()

	f.proxy.set(false)
	f.startSyncer(0)
	f.waitCondition(metav1.ConditionFalse, v1alpha1.ControlPlaneUnavailableReason, "")
	require.NoError(t, f.appDyn.Resource(f.gvr).Namespace(ns).Delete(f.ctx, "users", metav1.DeleteOptions{}))
	f.createApp(f.database(ns, "carts", "small", ""))
	time.Sleep(3 * time.Second)
	for _, name := range []string{"orders", "users"} {
		_, err := f.copyOf(ns, name)
		require.NoError(t, err, "copy %s was deleted while the control plane was unreachable", name)
		a, err := f.appObject(ns, name)
		require.NoError(t, err, "app object %s went while its copy could not be deleted", name)
		assert.Contains(t, a.GetFinalizers(), v1alpha1.InstanceFinalizer)
	}
	_, c := f.binding()
	require.NotNil(t, c)
	assert.Equal(t, v1alpha1.ControlPlaneUnavailableReason, c.Reason)

	f.proxy.set(true)
	f.waitCondition(metav1.ConditionTrue, v1alpha1.SucceededReason, "2 of 2 synced")
	_, err := f.copyOf(ns, "carts")
	require.NoError(t, err)
	eventually(t, 30*time.Second, func() error {
		_, err := f.appObject(ns, "users")
		return notFound(err)
	})
	_, err = f.copyOf(ns, "users")
	require.NoError(t, notFound(err))
	_, err = f.copyOf(ns, "orders")
	require.NoError(t, err)
}

// The first instance in an app namespace asks for its control-plane
// namespace (an APIServiceNamespace named after it in bindsync-<cluster>);
// until the backend assigns one the binding says NamespacePending, and
// nothing is written on the control plane; then the instance syncs.
func TestIntegrationNamespacePending(t *testing.T) {
	f := newFixture(t, "pending", false)
	ns := "pending-shop"
	f.createNamespace(f.app, ns)
	f.pauseBackend.Store(true)
	f.startSyncer(0)
	f.createApp(f.database(ns, "orders", "small", ""))
	f.waitCondition(metav1.ConditionFalse, v1alpha1.NamespacePendingReason,
		"1 of 1 not synced: waiting for the control-plane namespace of "+ns)
	var req v1alpha1.APIServiceNamespace
	require.NoError(t, f.cp.Client.Get(f.ctx, client.ObjectKey{Namespace: "bindsync-" + f.cluster, Name: ns}, &req))
	assert.Empty(t, req.Status.Namespace)

	f.pauseBackend.Store(false)
	f.waitCondition(metav1.ConditionTrue, v1alpha1.SucceededReason, "1 of 1 synced")
	_, err := f.copyOf(ns, "orders")
	require.NoError(t, err)
	assert.Positive(t, counter(t, "bindsync_agent_instances_synced_total", "direction", "up"))
}

// counter reads a counter with one label of the sync's, registered as the
// agent registers them with the registry it serves (0 when absent).
func counter(t *testing.T, name, label, value string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(instances.Metrics()...)
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range families {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
