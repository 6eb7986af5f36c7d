package instances_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/testenv"
)

// A hostile app cluster: origin annotations and a cluster label set by the
// developer are not carried and redirect nothing; a Secret no claim selects
// never crosses; a reference naming a Secret that only another namespace's
// instance namespace holds brings nothing; and the agent's ServiceAccount
// cannot write into another cluster's instance namespace at all (403).
func TestIntegrationHostileAppObjects(t *testing.T) {
	f := newFixture(t, "hostile", false)
	shop, blog := "hostile-shop", "hostile-blog"
	f.createNamespace(f.app, shop)
	f.createNamespace(f.app, blog)
	// Another cluster's instance namespace, as the backend makes it.
	victim := render.InstanceNamespace("victim", shop)
	require.NoError(t, f.cp.Client.Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: victim,
		Labels: map[string]string{v1alpha1.ClusterLabel: "victim"}}}))
	require.NoError(t, f.cp.Client.Create(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "victim-conn", Namespace: victim},
		Data: map[string][]byte{"password": []byte("victim")}}))
	f.startSyncer(0)

	o := f.database(shop, "orders", "small", "orders-conn")
	o.SetAnnotations(map[string]string{
		v1alpha1.ConsumerClusterAnnotation: "victim", v1alpha1.ConsumerNamespaceAnnotation: "other",
		v1alpha1.ConsumerNameAnnotation: "x", v1alpha1.ConsumerUIDAnnotation: "forged",
		"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "shop"})
	o.SetLabels(map[string]string{v1alpha1.ClusterLabel: "victim", "app.kubernetes.io/name": "x", "tier": "gold"})
	f.createApp(o)
	// blog's object names a Secret only shop's instance namespace and the
	// victim's hold.
	f.createApp(f.database(blog, "posts", "small", "orders-conn"))
	f.createApp(f.database(blog, "comments", "small", "victim-conn"))

	eventually(t, 30*time.Second, func() error {
		var s corev1.Secret
		return f.app.Client.Get(f.ctx, client.ObjectKey{Namespace: shop, Name: "orders-conn"}, &s)
	})
	f.waitCondition(metav1.ConditionTrue, v1alpha1.SucceededReason, "3 of 3 synced")

	c, err := f.copyOf(shop, "orders")
	require.NoError(t, err)
	a := mustApp(t, f, shop, "orders")
	assert.Equal(t, map[string]string{v1alpha1.ClusterLabel: f.cluster, "tier": "gold"}, c.GetLabels())
	ann := c.GetAnnotations()
	assert.Equal(t, f.cluster, ann[v1alpha1.ConsumerClusterAnnotation])
	assert.Equal(t, shop, ann[v1alpha1.ConsumerNamespaceAnnotation])
	assert.Equal(t, "orders", ann[v1alpha1.ConsumerNameAnnotation])
	assert.Equal(t, string(a.GetUID()), ann[v1alpha1.ConsumerUIDAnnotation])
	assert.Equal(t, "shop", ann["team"])
	assert.NotContains(t, ann, "kubectl.kubernetes.io/last-applied-configuration")
	list, err := f.cpDyn.Resource(f.gvr).Namespace(victim).List(f.ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, list.Items, "a copy landed in another cluster's namespace")

	// Secrets: shop's provider also writes an unreferenced Secret; nothing
	// but the referenced one crosses, and only into its own namespace.
	require.NoError(t, f.cp.Client.Create(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "admin-credentials",
		Namespace: render.InstanceNamespace(f.cluster, shop)}, Data: map[string][]byte{"root": []byte("x")}}))
	time.Sleep(2 * time.Second)
	for _, k := range []client.ObjectKey{{Namespace: shop, Name: "admin-credentials"}, {Namespace: blog, Name: "victim-conn"}, {Namespace: shop, Name: "victim-conn"}} {
		var s corev1.Secret
		err := f.app.Client.Get(f.ctx, k, &s)
		assert.Truef(t, apierrors.IsNotFound(err), "secret %s crossed (or: %v)", k, err)
	}
	// blog's instance namespace got its own connection Secret, not shop's.
	var s corev1.Secret
	eventually(t, 30*time.Second, func() error {
		return f.app.Client.Get(f.ctx, client.ObjectKey{Namespace: blog, Name: "orders-conn"}, &s)
	})
	assert.Equal(t, "secret-of-"+render.InstanceNamespace(f.cluster, blog), string(s.Data["password"]))

	// The agent's own credentials cannot reach another cluster's namespace.
	agentCfg := f.cp.ImpersonateConfig(testenv.ServiceAccountUser("bindsync-"+f.cluster, "bindsync-agent"))
	agent, err := dynamic.NewForConfig(agentCfg)
	require.NoError(t, err)
	forged := f.database(shop, "orders", "small", "")
	forged.SetNamespace(victim)
	_, err = agent.Resource(f.gvr).Namespace(victim).Create(f.ctx, forged, metav1.CreateOptions{})
	requireForbidden(t, err, "creating a copy in another cluster's namespace")
	_, err = agent.Resource(corev1.SchemeGroupVersion.WithResource("secrets")).Namespace(victim).Get(f.ctx, "victim-conn", metav1.GetOptions{})
	requireForbidden(t, err, "reading another cluster's Secret")
	_, err = agent.Resource(f.gvr).Namespace("").List(f.ctx, metav1.ListOptions{})
	requireForbidden(t, err, "listing copies in every namespace")
}

func requireForbidden(t *testing.T, err error, what string) {
	t.Helper()
	require.Error(t, err, "%s was allowed", what)
	require.Truef(t, apierrors.IsForbidden(err), "%s: want Forbidden, got %v", what, err)
}

// The provider refuses a copy (a validation rule of its CRD): a Warning
// event on the app object with the reason, and InstancesSynced False
// SyncFailed with the counts and the failure.
func TestIntegrationProviderRefusesCopy(t *testing.T) {
	f := newFixture(t, "refuse", false)
	ns := "refuse-shop"
	f.createNamespace(f.app, ns)
	f.startSyncer(0)
	f.createApp(f.database(ns, "good", "small", ""))
	f.createApp(f.database(ns, "bad", refusedPlan, ""))

	var msg string
	eventually(t, 30*time.Second, func() error {
		_, c := f.binding()
		if c == nil || c.Reason != v1alpha1.SyncFailedReason {
			return fmt.Errorf("InstancesSynced is %+v", c)
		}
		msg = c.Message
		return nil
	})
	assert.Regexp(t, `^1 of 2 not synced: refuse-shop/bad: write copy .*/bad on the control plane: .*plan refused is not offered`, msg)
	b, c := f.binding()
	assert.Equal(t, metav1.ConditionFalse, c.Status)
	assert.Equal(t, &v1alpha1.InstanceCounts{Synced: 1, Failed: 1}, b.Status.Instances)
	e, ok := f.events.find(ns+"/bad", v1alpha1.SyncFailedReason)
	require.True(t, ok, "no SyncFailed event on the refused app object")
	assert.Equal(t, corev1.EventTypeWarning, e.typ)
	assert.Contains(t, e.message, "plan refused is not offered")

	// Fixing the object clears the failure.
	eventually(t, 10*time.Second, func() error {
		a := mustApp(t, f, ns, "bad")
		_ = unstructured.SetNestedField(a.Object, "small", "spec", "plan")
		_, err := f.appDyn.Resource(f.gvr).Namespace(ns).Update(f.ctx, a, metav1.UpdateOptions{})
		return err
	})
	f.waitCondition(metav1.ConditionTrue, v1alpha1.SucceededReason, "2 of 2 synced")
}
