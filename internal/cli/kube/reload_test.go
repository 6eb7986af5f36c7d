package kube_test

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/bindsync/bindsync/internal/cli/kube"
)

// TestReloadingConfigReadsAReplacedToken: each request carries the token
// the kubeconfig file holds now; a file that disappears keeps the last one.
func TestReloadingConfigReadsAReplacedToken(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"APIVersions","versions":["v1"]}`))
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	write := func(token string, mod time.Time) {
		kc := clientcmdapi.NewConfig()
		kc.Clusters["c"] = &clientcmdapi.Cluster{Server: srv.URL,
			CertificateAuthorityData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}
		kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: token}
		kc.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
		kc.CurrentContext = "x"
		require.NoError(t, clientcmd.WriteToFile(*kc, path))
		require.NoError(t, os.Chtimes(path, mod, mod))
	}
	start := time.Now().Add(-time.Hour)
	write("first", start)
	cfg, err := kube.ReloadingConfig(path)
	require.NoError(t, err)
	assert.Empty(t, cfg.BearerToken, "the token is set per request, from the file")
	c, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	get := func() {
		resp, err := c.Get(srv.URL + "/api")
		require.NoError(t, err)
		_ = resp.Body.Close()
	}

	get()
	write("second", start.Add(time.Minute))
	get()
	require.NoError(t, os.Remove(path))
	get()

	assert.Equal(t, []string{"Bearer first", "Bearer second", "Bearer second"}, seen)
}

// TestReloadingConfigReadsAgainAfter401: a file replaced without a visible
// change (same time, same size) is read again once the server refuses the
// token it had.
func TestReloadingConfigReadsAgainAfter401(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer token-b" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	mod := time.Now().Add(-time.Hour)
	write := func(token string) {
		kc := clientcmdapi.NewConfig()
		kc.Clusters["c"] = &clientcmdapi.Cluster{Server: srv.URL,
			CertificateAuthorityData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}
		kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: token}
		kc.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
		kc.CurrentContext = "x"
		require.NoError(t, clientcmd.WriteToFile(*kc, path))
		require.NoError(t, os.Chtimes(path, mod, mod))
	}
	write("token-a")
	cfg, err := kube.ReloadingConfig(path)
	require.NoError(t, err)
	c, err := rest.HTTPClientFor(cfg)
	require.NoError(t, err)
	status := func() int {
		resp, err := c.Get(srv.URL + "/api")
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}

	write("token-b") // same length, same modification time
	assert.Equal(t, http.StatusUnauthorized, status(), "the file looks unchanged: the old token is sent")
	assert.Equal(t, http.StatusOK, status(), "after the 401 the file is read again")
	assert.Equal(t, []string{"Bearer token-a", "Bearer token-b"}, seen)
}
