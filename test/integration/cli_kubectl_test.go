package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/testenv"
)

// stall sets Ready=False and Stalled=True with reason and message on conds,
// of generation, as the backend and the agent write them.
func stall(conds *[]metav1.Condition, generation int64, reason, message string) {
	for _, typ := range []string{v1alpha1.ReadyCondition, v1alpha1.StalledCondition} {
		status := metav1.ConditionTrue
		if typ == v1alpha1.ReadyCondition {
			status = metav1.ConditionFalse
		}
		meta.SetStatusCondition(conds, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: message, ObservedGeneration: generation})
	}
}

// TestIntegrationBindStopsAtOnceOnStalled: a Stalled request or binding
// needs a human, so bind ends its wait with the condition's reason and
// message and exit 10, within a second of the condition, not after its
// --timeout of two minutes.
func TestIntegrationBindStopsAtOnceOnStalled(t *testing.T) {
	t.Parallel()
	cp, app := testenv.SharedPair(t)
	ctx := testContext(t)
	for _, c := range []*testenv.Cluster{cp, app} {
		require.NoError(t, c.WaitEstablished(ctx, installBindsyncCRDs(ctx, t, c)...))
	}
	cpKC, appKC := cp.WriteKubeconfig(t), app.WriteKubeconfig(t)

	// bindAsync runs bind in the background with a long timeout.
	bindAsync := func(t *testing.T, ns, template string) <-chan cliResult {
		done := make(chan cliResult, 1)
		go func() {
			done <- bindsyncCLI(t, "bind", template, "--kubeconfig", appKC, "--control-plane-kubeconfig", cpKC, "-n", ns, "--timeout", "2m")
		}()
		return done
	}
	// waitFor polls get until it succeeds.
	waitFor := func(t *testing.T, what string, get func() error) {
		require.Eventually(t, func() bool { return get() == nil }, 30*time.Second, 50*time.Millisecond, "%s never appeared", what)
	}
	// finish waits for bind and returns its result and how long it ran
	// after the condition was written.
	finish := func(t *testing.T, done <-chan cliResult, written time.Time) (cliResult, time.Duration) {
		select {
		case r := <-done:
			return r, time.Since(written)
		case <-time.After(30 * time.Second):
			t.Fatal("bind still waits 30s after the Stalled condition")
		}
		return cliResult{}, 0
	}

	t.Run("a Stalled request", func(t *testing.T) {
		ns := createNamespace(ctx, t, cp.Client, "bindsync-stalled-request")
		done := bindAsync(t, ns, "stalled")
		var q v1alpha1.APIServiceExportRequest
		waitFor(t, "the request", func() error { return cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "stalled"}, &q) })
		q.Status.ObservedGeneration, q.Status.Phase = q.Generation, v1alpha1.RequestPending
		stall(&q.Status.Conditions, q.Generation, v1alpha1.ApplyFailedReason, "cluster folder of stalled-request not applied: forbidden")
		require.NoError(t, cp.Client.Status().Update(ctx, &q))
		written := time.Now()

		r, took := finish(t, done, written)
		t.Logf("bind ended %s after the request was Stalled", took)
		assert.Equal(t, exitcode.Stalled, r.code)
		assert.Contains(t, r.stderr, "APIServiceExportRequest "+ns+"/stalled is Stalled: ApplyFailed: cluster folder of stalled-request not applied: forbidden")
		assert.Less(t, took, 2*time.Second, "bind stops at once, not after --timeout")
	})

	t.Run("a Stalled binding", func(t *testing.T) {
		ns := createNamespace(ctx, t, cp.Client, "bindsync-stalled-binding")
		const export = "stalls.stalled.example.com"
		done := bindAsync(t, ns, "stalled")
		var q v1alpha1.APIServiceExportRequest
		waitFor(t, "the request", func() error { return cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "stalled"}, &q) })
		q.Status = v1alpha1.APIServiceExportRequestStatus{ObservedGeneration: q.Generation, Phase: v1alpha1.RequestSucceeded,
			Revision: "main@sha1:0123456789012345678901234567890123456789", Exports: []v1alpha1.ExportStatus{{Name: export, SchemaHash: "abc"}}}
		for _, typ := range []string{v1alpha1.RenderedCondition, v1alpha1.ApprovedCondition, v1alpha1.ReadyCondition} {
			meta.SetStatusCondition(&q.Status.Conditions, metav1.Condition{Type: typ, Status: metav1.ConditionTrue, Reason: v1alpha1.SucceededReason,
				Message: "done", ObservedGeneration: q.Generation})
		}
		require.NoError(t, cp.Client.Status().Update(ctx, &q))
		t.Cleanup(func() {
			_ = app.Client.Delete(ctx, &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: export}})
		})

		var b v1alpha1.APIServiceBinding
		waitFor(t, "the binding", func() error { return app.Client.Get(ctx, client.ObjectKey{Name: export}, &b) })
		b.Status.ObservedGeneration = b.Generation
		stall(&b.Status.Conditions, b.Generation, v1alpha1.ForeignCRDReason, "CRD "+export+" exists and is not bindsync's")
		require.NoError(t, app.Client.Status().Update(ctx, &b))
		written := time.Now()

		r, took := finish(t, done, written)
		t.Logf("bind ended %s after the binding was Stalled", took)
		assert.Equal(t, exitcode.Stalled, r.code)
		assert.Contains(t, r.stderr, "APIServiceBinding "+export+" is Stalled: ForeignCRD: CRD "+export+" exists and is not bindsync's")
		assert.Less(t, took, 2*time.Second, "bind stops at once, not after --timeout")
	})
}

// TestIntegrationKubectlFlagsAndOutputs: kubectl's --as reaches the API
// server (a user without rights is refused: 403, exit 11, not 2), and
// cluster add writes its kubeconfig with --output-file, with the old
// -o FILE (and a deprecation note), and prints -o name and -o json.
func TestIntegrationKubectlFlagsAndOutputs(t *testing.T) {
	t.Parallel()
	cp, _ := testenv.SharedPair(t)
	ctx := testContext(t)
	require.NoError(t, cp.WaitEstablished(ctx, installBindsyncCRDs(ctx, t, cp)...))
	cpKC := cp.WriteKubeconfig(t)

	t.Run("--as a user without rights: the API server's 403 exits 11", func(t *testing.T) {
		nobody := testenv.ServiceAccountUser("default", "nobody")
		r := bindsyncCLI(t, "status", "--kubeconfig", cpKC, "--as", nobody)
		assert.Equal(t, exitcode.Refused, r.code)
		assert.Contains(t, r.stderr, `apiserviceexports.bindsync.io is forbidden: User "`+nobody+`" cannot list resource`)

		r = bindsyncCLI(t, "cluster", "add", "refused", "--kubeconfig", cpKC, "--as", nobody, "--timeout", "5s")
		assert.Equal(t, exitcode.Refused, r.code)
		assert.Contains(t, r.stderr, "create AppCluster refused")
		assert.Contains(t, r.stderr, "forbidden")
	})

	// The test stands in for the backend: the cluster's namespace and its
	// agent's ServiceAccount exist.
	const cluster = "outputs"
	ns := createNamespace(ctx, t, cp.Client, v1alpha1.ClusterNamespace(cluster))
	require.NoError(t, client.IgnoreAlreadyExists(cp.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: v1alpha1.AgentServiceAccount}})))
	dir := t.TempDir()
	add := func(t *testing.T, args ...string) cliResult {
		r := bindsyncCLI(t, append([]string{"cluster", "add", cluster, "--kubeconfig", cpKC, "--timeout", "30s"}, args...)...)
		require.Equal(t, 0, r.code, r.stderr)
		return r
	}
	private := func(t *testing.T, path string) {
		info, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Contains(t, string(data), "namespace: "+ns)
	}

	t.Run("--output-file writes the kubeconfig, -o name prints the AppCluster", func(t *testing.T) {
		path := filepath.Join(dir, "new.kubeconfig")
		r := add(t, "--output-file", path, "-o", "name")
		private(t, path)
		assert.Equal(t, "appcluster.bindsync.io/"+cluster+"\n", r.stdout)
		assert.NotContains(t, r.stderr, "deprecated")
	})
	t.Run("-o FILE still writes FILE, with a deprecation note", func(t *testing.T) {
		path := filepath.Join(dir, "old.kubeconfig")
		r := add(t, "-o", path)
		private(t, path)
		assert.Empty(t, r.stdout)
		assert.Contains(t, r.stderr, "-o FILE is deprecated: use --output-file "+path)
	})
	t.Run("-o json prints the kubeconfig as JSON", func(t *testing.T) {
		r := add(t, "-o", "json")
		var kc struct {
			Kind     string `json:"kind"`
			Contexts []struct {
				Context struct {
					Namespace string `json:"namespace"`
				} `json:"context"`
			} `json:"contexts"`
		}
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &kc), r.stdout)
		assert.Equal(t, "Config", kc.Kind)
		require.Len(t, kc.Contexts, 1)
		assert.Equal(t, ns, kc.Contexts[0].Context.Namespace)
	})
}
