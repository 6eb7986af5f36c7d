package instances

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/bindsync/bindsync/internal/testenv"
)

// The sync's caches keep what it reads and nothing of what it never reads:
// a cached object has no managed fields and no kubectl last-applied
// annotation (which repeats the whole object), but every other annotation,
// its data and its status; adds, changes, deletions and resyncs are each
// told by namespace and name. On a real API server.
func TestIntegrationCacheKeepsWhatSyncReads(t *testing.T) {
	_, app := testenv.SharedPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := "cache-slim"
	require.NoError(t, app.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	big := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","data":{"k":%q}}`, strings.Repeat("x", 4096))
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "params", Namespace: ns, Annotations: map[string]string{
		corev1.LastAppliedConfigAnnotation: big, "team.example.com/owner": "shop"}}, Data: map[string]string{"k": "v1"}}
	require.NoError(t, app.Client.Create(ctx, cm))

	dyn, err := dynamic.NewForConfig(app.Config)
	require.NoError(t, err)
	var mu sync.Mutex
	told := map[string]int{}
	inf := newInformer(dyn, schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, ns,
		func(ns, name string) {
			mu.Lock()
			told[ns+"/"+name]++
			mu.Unlock()
		}, nil)
	defer inf.close()
	timesTold := func() int {
		mu.Lock()
		defer mu.Unlock()
		return told[ns+"/params"]
	}

	require.Eventually(t, inf.synced, 30*time.Second, 10*time.Millisecond)
	got := inf.get(ns, "params")
	require.NotNil(t, got, "the listed ConfigMap is cached")
	assert.Empty(t, got.GetManagedFields(), "managed fields are not cached")
	_, kept := got.GetAnnotations()[corev1.LastAppliedConfigAnnotation]
	assert.False(t, kept, "the last-applied annotation is not cached")
	assert.Equal(t, "shop", got.GetAnnotations()["team.example.com/owner"], "every other annotation is cached")
	assert.Equal(t, map[string]any{"k": "v1"}, got.Object["data"])
	assert.Positive(t, timesTold(), "the listed object is told")

	// A resync tells every cached object again.
	before := timesTold()
	inf.resync()
	assert.Equal(t, before+1, timesTold(), "a resync tells the cached object")

	// A change: cached as it is now, still slim.
	cm.Data["k"] = "v2"
	cm.Annotations[corev1.LastAppliedConfigAnnotation] = big + " "
	require.NoError(t, app.Client.Update(ctx, cm))
	require.Eventually(t, func() bool {
		o := inf.get(ns, "params")
		return o != nil && o.Object["data"].(map[string]any)["k"] == "v2"
	}, 10*time.Second, 10*time.Millisecond)
	got = inf.get(ns, "params")
	assert.Empty(t, got.GetManagedFields())
	_, kept = got.GetAnnotations()[corev1.LastAppliedConfigAnnotation]
	assert.False(t, kept, "the last-applied annotation is not cached after a change")
	assert.Len(t, inf.inNamespace(ns), 1)

	// A deletion empties the cache.
	require.NoError(t, app.Client.Delete(ctx, cm))
	require.Eventually(t, func() bool { return inf.get(ns, "params") == nil }, 10*time.Second, 10*time.Millisecond)
	assert.Empty(t, inf.list())
}
