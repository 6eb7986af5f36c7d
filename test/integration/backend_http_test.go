package integration

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

const (
	httpGitUser     = "bindsync"
	httpGitPassword = "s3cret"
)

// gitHTTPServer serves the bare repositories under root over smart HTTP
// through git http-backend (part of git), behind basic auth. unauthorized
// counts the requests it refused.
func gitHTTPServer(t *testing.T, root string, unauthorized *atomic.Int64) *httptest.Server {
	t.Helper()
	execPath := strings.TrimSpace(runGit(t, root, "--exec-path"))
	backend := filepath.Join(execPath, "git-http-backend")
	_, err := os.Stat(backend)
	require.NoError(t, err, "git http-backend is part of git; it was not found under git --exec-path")
	h := &cgi.Handler{Path: backend, Root: "/",
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != httpGitUser || p != httpGitPassword {
			unauthorized.Add(1)
			w.Header().Set("WWW-Authenticate", `Basic realm="bindsync test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestIntegrationBackendHTTPRemote runs `bindsync backend` against a
// smart-HTTP remote with basic auth, the password in a file: a new
// cluster's folder is pushed; then the file gets a wrong password, which
// shows on a new request as GitUnavailable; once the file holds the right one
// again (read on every connection, no restart), the bind is pushed to the
// remote and applied.
func TestIntegrationBackendHTTPRemote(t *testing.T) {
	cp := startBackendControlPlane(t)
	root := t.TempDir()
	bare := filepath.Join(root, "state.git")
	runGit(t, "", "init", "-q", "--bare", "-b", "main", bare)
	runGit(t, bare, "config", "http.receivepack", "true")
	var refused atomic.Int64
	srv := gitHTTPServer(t, root, &refused)
	pwFile := filepath.Join(t.TempDir(), "git-password")
	require.NoError(t, os.WriteFile(pwFile, []byte(httpGitPassword+"\n"), 0o600))

	logs := backendCommand(t, cp, filepath.Join(t.TempDir(), "cache"), "--repo", srv.URL+"/state.git",
		"--git-username", httpGitUser, "--git-password-file", pwFile, "--interval", "1s")
	e := &backendEnv{t: t, cp: cp, remote: bare}
	const wait, tick = 30 * time.Second, 200 * time.Millisecond
	e.create(&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "http"}})
	e.template("pg-http", "postgresqlinstances", v1alpha1.ApprovalAutomatic)
	ns := v1alpha1.ClusterNamespace("http")
	require.Eventually(t, func() bool { return e.exists(&corev1.Namespace{}, "", ns) }, wait, tick,
		"the cluster's folder is pushed over HTTP and applied; logs:\n%s", logs)
	folder := e.head("main")
	require.NotEmpty(t, folder)
	require.Zero(t, refused.Load(), "the right password is accepted")

	require.NoError(t, os.WriteFile(pwFile, []byte("wrong\n"), 0o600))
	e.request("http", "pg", "pg-http")

	require.Eventually(t, func() bool {
		return requestCondition(e.getRequest("http", "pg"), v1alpha1.ReadyCondition).Reason == v1alpha1.GitUnavailableReason
	}, wait, tick, "a wrong password is GitUnavailable; logs:\n%s", logs)
	ready := requestCondition(e.getRequest("http", "pg"), v1alpha1.ReadyCondition)
	assert.Equal(t, metav1.ConditionFalse, ready.Status)
	assert.Contains(t, ready.Message, srv.URL, "the condition names the remote")
	assert.Positive(t, refused.Load(), "the server refused the wrong password")
	assert.Equal(t, folder, e.head("main"), "nothing pushed")

	require.NoError(t, os.WriteFile(pwFile, []byte(httpGitPassword+"\n"), 0o600))
	require.Eventually(t, func() bool {
		return requestCondition(e.getRequest("http", "pg"), v1alpha1.ReadyCondition).Status == metav1.ConditionTrue
	}, wait, tick, "Ready once the password file is right; logs:\n%s", logs)

	head := e.head("main")
	require.NotEmpty(t, head, "main pushed over HTTP")
	assert.Equal(t, "main@sha1:"+head, e.getRequest("http", "pg").Status.Revision, "the request names the remote's head")
	assert.Equal(t, "bind: http <- pg-http", e.subjects()[0])
	assert.Contains(t, e.trailers(head), "Bindsync-Request: "+ns+"/pg")
	assert.True(t, e.exists(&v1alpha1.APIServiceExport{}, ns, backendPGCRD), "applied from the remote's main")
	runGit(t, "", "--git-dir", bare, "fsck", "--strict")
}
