package instances_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
)

// A restarted syncer (a new process: empty caches, no results) with nothing
// new writes nothing on either side until idle: no binding status (its
// InstancesSynced and counts are worked out from a look at every instance
// and equal what the binding holds), no instance, copy, claimed Secret or
// ConfigMap, or APIServiceNamespace.
func TestIntegrationRestartWritesNothing(t *testing.T) {
	f := newFixture(t, "restart", false)
	const namespaces, perNamespace = 5, 10
	var nss []string
	for i := range namespaces {
		ns := fmt.Sprintf("restart-%d", i)
		nss = append(nss, ns)
		f.createNamespace(f.app, ns)
	}
	f.startSyncer(0)
	for _, ns := range nss {
		for j := range perNamespace {
			name := fmt.Sprintf("db-%d", j)
			f.createApp(f.database(ns, name, "small", name+"-conn"))
		}
	}
	require.NoError(t, f.app.Client.Create(f.ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "params", Namespace: nss[0], Labels: map[string]string{claimedLabel: "true"}},
		Data:       map[string]string{"k": "v"}}))
	total := namespaces * perNamespace
	f.waitCondition(metav1.ConditionTrue, v1alpha1.SucceededReason, fmt.Sprintf("%d of %d synced", total, total))
	eventually(t, 60*time.Second, func() error {
		for _, ns := range nss {
			for j := range perNamespace {
				name := fmt.Sprintf("db-%d", j)
				var s corev1.Secret
				if err := f.app.Client.Get(f.ctx, client.ObjectKey{Namespace: ns, Name: name + "-conn"}, &s); err != nil {
					return err
				}
				if _, ok := mustApp(t, f, ns, name).Object["status"]; !ok {
					return fmt.Errorf("%s/%s has no status yet", ns, name)
				}
			}
		}
		var cm corev1.ConfigMap
		return f.cp.Client.Get(f.ctx, client.ObjectKey{Namespace: render.InstanceNamespace(f.cluster, nss[0]), Name: "params"}, &cm)
	})
	time.Sleep(2 * time.Second) // the provider and the first syncer are done
	f.stop()
	before, _ := f.binding()
	require.NotNil(t, before.Status.Instances)
	require.Equal(t, int32(total), before.Status.Instances.Synced)

	cpBefore, appBefore, logged := f.cpWrites.Load(), f.appWrites.Load(), f.writes.len()
	f.startSyncer(0)
	time.Sleep(10 * time.Second) // the new syncer lists, looks at every instance and is idle
	writes := f.writes.since(logged)
	assert.Zero(t, f.cpWrites.Load()-cpBefore, "writes on the control plane after a restart with nothing new: %v", writes)
	assert.Zero(t, f.appWrites.Load()-appBefore, "writes in the app cluster after a restart with nothing new: %v", writes)
	after, cond := f.binding()
	assert.Equal(t, before.ResourceVersion, after.ResourceVersion, "the binding was not written")
	require.NotNil(t, cond)
	assert.Equal(t, metav1.ConditionTrue, cond.Status)
	assert.Equal(t, fmt.Sprintf("%d of %d synced", total, total), cond.Message)

	// And the restarted syncer still reports a real change at once.
	f.createApp(f.database(nss[0], "late", "small", ""))
	f.waitCondition(metav1.ConditionTrue, v1alpha1.SucceededReason, fmt.Sprintf("%d of %d synced", total+1, total+1))
}
