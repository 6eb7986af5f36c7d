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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
)

// Two app namespaces with an object of the same name: two copies in two
// control-plane namespaces, each with its app object's spec; each app
// object gets its own copy's status and connection Secret; a consumer-owned
// ConfigMap goes up into its own namespace only.
func TestIntegrationTwoNamespacesSameName(t *testing.T) {
	f := newFixture(t, "twins", false)
	shop, blog := "twins-shop", "twins-blog"
	f.createNamespace(f.app, shop)
	f.createNamespace(f.app, blog)
	f.startSyncer(0)

	f.createApp(f.database(shop, "orders", "small", "orders-conn"))
	f.createApp(f.database(blog, "orders", "large", "orders-conn"))
	require.NoError(t, f.app.Client.Create(f.ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-params", Namespace: shop, Labels: map[string]string{claimedLabel: "true", "team": "shop"}},
		Data:       map[string]string{"max_connections": "50"}}))

	for ns, plan := range map[string]string{shop: "small", blog: "large"} {
		instNs := render.InstanceNamespace(f.cluster, ns)
		eventually(t, 30*time.Second, func() error {
			c, err := f.copyOf(ns, "orders")
			if err != nil {
				return err
			}
			if got, _, _ := unstructured.NestedString(c.Object, "spec", "plan"); got != plan {
				return fmt.Errorf("copy in %s has plan %q, want %q", instNs, got, plan)
			}
			return nil
		})
		c, err := f.copyOf(ns, "orders")
		require.NoError(t, err)
		assert.Equal(t, map[string]string{
			v1alpha1.ConsumerClusterAnnotation: f.cluster, v1alpha1.ConsumerNamespaceAnnotation: ns,
			v1alpha1.ConsumerNameAnnotation: "orders", v1alpha1.ConsumerUIDAnnotation: string(mustApp(t, f, ns, "orders").GetUID()),
		}, pick(c.GetAnnotations(), v1alpha1.ConsumerClusterAnnotation, v1alpha1.ConsumerNamespaceAnnotation, v1alpha1.ConsumerNameAnnotation, v1alpha1.ConsumerUIDAnnotation))
		assert.Equal(t, f.cluster, c.GetLabels()[v1alpha1.ClusterLabel])

		// Status and the connection Secret come back to this namespace.
		eventually(t, 30*time.Second, func() error {
			a, err := f.appObject(ns, "orders")
			if err != nil {
				return err
			}
			if got, _, _ := unstructured.NestedString(a.Object, "status", "namespace"); got != instNs {
				return fmt.Errorf("app object %s/orders has status %v, want its copy's (namespace %s)", ns, a.Object["status"], instNs)
			}
			var s corev1.Secret
			if err := f.app.Client.Get(f.ctx, client.ObjectKey{Namespace: ns, Name: "orders-conn"}, &s); err != nil {
				return err
			}
			if string(s.Data["password"]) != "secret-of-"+instNs {
				return fmt.Errorf("secret %s/orders-conn holds %q, want the one of %s", ns, s.Data["password"], instNs)
			}
			return nil
		})
		assert.Contains(t, mustApp(t, f, ns, "orders").GetFinalizers(), v1alpha1.InstanceFinalizer)
	}

	// The ConfigMap went up next to the shop copy, and nowhere else.
	eventually(t, 30*time.Second, func() error {
		var cm corev1.ConfigMap
		if err := f.cp.Client.Get(f.ctx, client.ObjectKey{Namespace: render.InstanceNamespace(f.cluster, shop), Name: "orders-params"}, &cm); err != nil {
			return err
		}
		if cm.Data["max_connections"] != "50" || cm.Labels["team"] != "shop" {
			return fmt.Errorf("configmap copy is %v %v", cm.Labels, cm.Data)
		}
		return nil
	})
	var cm corev1.ConfigMap
	assert.Error(t, f.cp.Client.Get(f.ctx, client.ObjectKey{Namespace: render.InstanceNamespace(f.cluster, blog), Name: "orders-params"}, &cm),
		"the shop ConfigMap must not reach the blog namespace")

	b := f.waitCondition(metav1.ConditionTrue, v1alpha1.SucceededReason, "2 of 2 synced")
	assert.Equal(t, &v1alpha1.InstanceCounts{Synced: 2}, b.Status.Instances)

	// The agent's own status write (Ready, from its cache) keeps the sync's
	// condition, and the sync's next write keeps Ready.
	meta.SetStatusCondition(&b.Status.Conditions, metav1.Condition{Type: v1alpha1.ReadyCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.SucceededReason, Message: "applied"})
	require.NoError(t, f.app.Client.Status().Update(f.ctx, b))
	f.createApp(f.database(blog, "users", "small", ""))
	b = f.waitCondition(metav1.ConditionTrue, v1alpha1.SucceededReason, "3 of 3 synced")
	assert.NotNil(t, meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ReadyCondition), "the agent's Ready condition was dropped")
}

func mustApp(t *testing.T, f *fixture, ns, name string) *unstructured.Unstructured {
	t.Helper()
	o, err := f.appObject(ns, name)
	require.NoError(t, err)
	return o
}

func pick(m map[string]string, keys ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}
