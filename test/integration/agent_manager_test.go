package integration

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// TestIntegrationAgentManager runs the agent as `bindsync agent` does, with
// an interval far longer than the test: the first pass runs without waiting,
// a signed webhook call applies a new commit at once while an unsigned one is
// refused, and the reconcile-requested-at annotation on a binding triggers a
// pass too; a forge's (GitLab's) push triggers a pass only for the followed
// branch. The probes answer.
func TestIntegrationAgentManager(t *testing.T) {
	ctx, app := setupAgentTest(t)
	const cluster = "agent-manager"
	k := testKind{plural: "managed", kind: "Managed", group: "manager.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	repo := newStateRepo(t)
	rev1 := repo.commit(appFolder(cluster, []testKind{k}, nil))
	createBinding(ctx, t, app, k.name(), "")

	secretFile := filepath.Join(t.TempDir(), "webhook-secret")
	require.NoError(t, os.WriteFile(secretFile, []byte("s3cret\n"), 0o600))
	src, err := source.New(source.Options{URL: repo.url(), Dir: staterepo.AppDir(cluster)})
	require.NoError(t, err)
	webhookAddr, probeAddr := freeAddr(t), freeAddr(t)
	mgr, _, err := agent.NewManager(app.Config, src, agent.Options{Cluster: cluster}, agent.RunOptions{
		Interval: time.Hour, MetricsBindAddress: "0", HealthProbeBindAddress: probeAddr,
		Webhook: agent.WebhookOptions{Addr: webhookAddr, SecretFile: secretFile, Branch: "main"},
	})
	require.NoError(t, err)
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})

	appliedRevision := func() string {
		var b v1alpha1.APIServiceBinding
		if err := app.Client.Get(ctx, client.ObjectKey{Name: k.name()}, &b); err != nil {
			return err.Error()
		}
		return b.Status.LastAppliedRevision
	}
	post := func(sig string) int {
		body := `{"ref":"refs/heads/main"}`
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+webhookAddr+"/", strings.NewReader(body))
		require.NoError(t, err)
		if sig == "sign" {
			mac := hmac.New(sha256.New, []byte("s3cret"))
			mac.Write([]byte(body))
			req.Header.Set(agent.GitHubSignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}

	t.Run("the first pass runs at start", func(t *testing.T) {
		require.Eventually(t, func() bool { return appliedRevision() == rev1 }, 30*time.Second, 50*time.Millisecond)
	})

	t.Run("probes answer", func(t *testing.T) {
		for _, p := range []string{"/healthz", "/readyz"} {
			resp, err := http.Get("http://" + probeAddr + p)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, p)
		}
	})

	k2 := k
	k2.fields = map[string]string{"a": "string", "b": "integer"}
	rev2 := repo.commit(appFolder(cluster, []testKind{k2}, nil))
	t.Run("an unsigned webhook call is refused and triggers nothing", func(t *testing.T) {
		assert.Equal(t, http.StatusUnauthorized, post(""))
		time.Sleep(time.Second)
		assert.Equal(t, rev1, appliedRevision())
	})

	t.Run("a signed webhook call applies the new commit without waiting for the interval", func(t *testing.T) {
		begin := time.Now()
		require.Equal(t, http.StatusAccepted, post("sign"))
		require.Eventually(t, func() bool { return appliedRevision() == rev2 }, 30*time.Second, 20*time.Millisecond)
		t.Logf("pushed commit -> binding Ready at the new revision in %s", time.Since(begin).Round(time.Millisecond))
		crd, err := getCRD(ctx, t, app, k.name())
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b"}, keysOf(crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties))
	})

	t.Run("the reconcile-requested-at annotation triggers a pass", func(t *testing.T) {
		k3 := k2
		k3.fields = map[string]string{"a": "string", "b": "integer", "c": "string"}
		rev3 := repo.commit(appFolder(cluster, []testKind{k3}, nil))
		b := getBinding(ctx, t, app, k.name())
		patch := client.MergeFrom(b.DeepCopy())
		b.Annotations = map[string]string{v1alpha1.ReconcileRequestedAnnotation: fmt.Sprint(time.Now().Unix())}
		require.NoError(t, app.Client.Patch(ctx, b, patch))
		require.Eventually(t, func() bool { return appliedRevision() == rev3 }, 30*time.Second, 20*time.Millisecond)
	})

	gitlabPush := func(ref string) int {
		body := `{"object_kind":"push","event_name":"push","ref":"` + ref + `","project":{"default_branch":"main"}}`
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+webhookAddr+"/", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set(agent.GitLabEventHeader, "Push Hook")
		req.Header.Set(agent.GitLabTokenHeader, "s3cret")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("a forge's push to another branch triggers nothing; one to main applies the new commit", func(t *testing.T) {
		before := appliedRevision()
		k4 := k2
		k4.fields = map[string]string{"a": "string", "b": "integer", "c": "string", "d": "string"}
		rev4 := repo.commit(appFolder(cluster, []testKind{k4}, nil))
		require.Equal(t, http.StatusOK, gitlabPush("refs/heads/feature"))
		time.Sleep(time.Second)
		assert.Equal(t, before, appliedRevision(), "a push to another branch is ignored")
		require.Equal(t, http.StatusAccepted, gitlabPush("refs/heads/main"))
		require.Eventually(t, func() bool { return appliedRevision() == rev4 }, 30*time.Second, 20*time.Millisecond)
	})
}
