package integration

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	backendcmd "github.com/bindsync/bindsync/internal/cli/backend"
	"github.com/bindsync/bindsync/internal/testenv"
)

// syncBuffer is a bytes.Buffer the backend's logger and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// backendCommand runs `bindsync backend` with a local bare repository in
// --data-dir (no git server) until the test ends. extra flags come last,
// so they override the defaults here.
func backendCommand(t *testing.T, cp *testenv.Cluster, dataDir string, extra ...string) *syncBuffer {
	logs := &syncBuffer{}
	cmd := backendcmd.NewCommand(io.Discard, logs)
	cmd.SetArgs(append([]string{"--kubeconfig", cp.WriteKubeconfig(t), "--data-dir", dataDir,
		"--leader-elect=false", "--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--interval", "2s"}, extra...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Error("bindsync backend did not stop")
		}
	})
	return logs
}

func testBackendCommand(t *testing.T, cp *testenv.Cluster) {
	dataDir := filepath.Join(t.TempDir(), "data")
	logs := backendCommand(t, cp, dataDir)
	e := &backendEnv{t: t, cp: cp, remote: dataDir}
	e.create(&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "flow-cmd"}})
	e.create(&v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: "pg-cmd"},
		Spec: v1alpha1.APIServiceExportTemplateSpec{Resources: []v1alpha1.GroupResource{{Group: "anynines.com", Resource: "postgresqlinstances"}}}})
	require.Eventually(t, func() bool { return e.head("main") != "" }, 30*time.Second, 200*time.Millisecond,
		"the backend commits the new cluster's folder; logs:\n%s", logs)
	e.request("flow-cmd", "pg", "pg-cmd")

	require.Eventually(t, func() bool {
		return requestCondition(e.getRequest("flow-cmd", "pg"), v1alpha1.ReadyCondition).Status == metav1.ConditionTrue
	}, 30*time.Second, 200*time.Millisecond, "request Ready; logs:\n%s", logs)
	q := e.getRequest("flow-cmd", "pg")
	assert.Equal(t, "main@sha1:"+e.head("main"), q.Status.Revision)
	assert.Equal(t, "bind: flow-cmd <- pg-cmd", e.subjects()[0])
	assert.True(t, strings.Contains(logs.String(), `"revision":"main@sha1:`), "logs name the revision")
}
