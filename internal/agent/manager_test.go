package agent_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/agent/source"
)

// TestClientConfig: a kubeconfig sets no client-side rate limit, and
// client-go's fallback (5 requests a second) made the agent's first pass over
// 211 bindings (a finalizer and a status write each) take minutes. The
// agent's clients get no client-side limit then; a limit the config sets is
// kept.
func TestClientConfig(t *testing.T) {
	limiter := flowcontrol.NewTokenBucketRateLimiter(7, 9)
	tests := []struct {
		name      string
		cfg       rest.Config
		wantQPS   float32
		wantBurst int
		limiter   flowcontrol.RateLimiter
	}{
		{name: "a kubeconfig's config (no limit set) gets no client-side limit", wantQPS: -1},
		{name: "a QPS the config sets is kept", cfg: rest.Config{QPS: 20, Burst: 30}, wantQPS: 20, wantBurst: 30},
		{name: "a negative QPS (no limit) is kept", cfg: rest.Config{QPS: -1}, wantQPS: -1},
		{name: "a rate limiter the config sets is kept", cfg: rest.Config{RateLimiter: limiter}, wantQPS: 0, limiter: limiter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			got := agent.ClientConfig(&cfg)
			assert.Equal(t, tc.wantQPS, got.QPS)
			assert.Equal(t, tc.wantBurst, got.Burst)
			assert.Equal(t, tc.limiter, got.RateLimiter)
			assert.Equal(t, tc.cfg.QPS, cfg.QPS, "the caller's config is not changed")
		})
	}
}

// TestNewManagerHasNoClientRateLimit: the manager `bindsync agent` runs, given
// a kubeconfig's config, talks to the API server without client-side limit.
// (A process may create one manager only: its controller name is unique.)
func TestNewManagerHasNoClientRateLimit(t *testing.T) {
	src, err := source.New(source.Options{URL: "file:///nowhere"})
	require.NoError(t, err)
	cfg := &rest.Config{Host: discoveryServer(t)}
	mgr, _, err := agent.NewManager(cfg, src, agent.Options{Cluster: "c"},
		agent.RunOptions{MetricsBindAddress: "0", HealthProbeBindAddress: "0"})
	require.NoError(t, err)
	assert.Equal(t, float32(-1), mgr.GetConfig().QPS)
	assert.Nil(t, mgr.GetConfig().RateLimiter)
}

// TestNewManagerMakesTheSyncer: with instance sync on and a control plane,
// NewManager makes the instance Syncer and runs it in the manager, where
// New alone (which has no manager to run it) refuses those options.
func TestNewManagerMakesTheSyncer(t *testing.T) {
	src, err := source.New(source.Options{URL: "file:///nowhere"})
	require.NoError(t, err)
	cfg := &rest.Config{Host: discoveryServer(t)}
	o := agent.Options{Cluster: "c", SyncInstances: true, ControlPlane: &rest.Config{Host: discoveryServer(t)}}
	_, err = agent.New(cfg, nil, src, o)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "needs Options.Instances")
	_, _, err = agent.NewManager(cfg, src, o, agent.RunOptions{MetricsBindAddress: "0", HealthProbeBindAddress: "0"})
	require.NoError(t, err)
}

// discoveryServer serves just enough discovery for a manager to be created:
// the CRD kind the agent's cache is limited to.
func discoveryServer(t *testing.T) string {
	t.Helper()
	docs := map[string]string{
		"/api":    `{"kind":"APIVersions","versions":["v1"]}`,
		"/apis":   `{"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"apiextensions.k8s.io","versions":[{"groupVersion":"apiextensions.k8s.io/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apiextensions.k8s.io/v1","version":"v1"}}]}`,
		"/api/v1": `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"v1","resources":[]}`,
		"/apis/apiextensions.k8s.io/v1": `{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"apiextensions.k8s.io/v1","resources":[` +
			`{"name":"customresourcedefinitions","singularName":"customresourcedefinition","namespaced":false,"kind":"CustomResourceDefinition","verbs":["get","list","watch"]}]}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, ok := docs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(doc))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
