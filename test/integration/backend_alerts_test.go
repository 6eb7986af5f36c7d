package integration

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// TestIntegrationBackendOutageMovesTheAlertMetrics runs `bindsync backend`
// against a real bare repository over file:// and takes the repository away
// (renames its folder): the reconcile is requeued without an error, so
// controller-runtime's error counter stays flat, but
// bindsync_backend_blocked{reason="GitUnavailable"} says it is stuck and the
// last success stops moving. With the repository back, the series is gone.
func TestIntegrationBackendOutageMovesTheAlertMetrics(t *testing.T) {
	cp := startBackendControlPlane(t)
	dir := t.TempDir()
	remote := filepath.Join(dir, "state.git")
	runGit(t, "", "init", "-q", "--bare", "-b", "main", remote)
	addr := freeAddr(t)
	metricsURL := "http://" + addr + "/metrics"
	logs := backendCommand(t, cp, filepath.Join(dir, "clone"), "--repo", "file://"+remote,
		"--metrics-bind-address", addr, "--interval", "1s")
	e := &backendEnv{t: t, cp: cp, remote: remote}
	const wait, tick = 30 * time.Second, 200 * time.Millisecond
	const lastSuccess = "bindsync_backend_last_success_timestamp_seconds"
	const blockedGit = `bindsync_backend_blocked{reason="` + v1alpha1.GitUnavailableReason + `"}`
	const errorsTotal = `controller_runtime_reconcile_errors_total{controller="bindsync-backend"}`

	e.create(&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "alerts"}})
	require.Eventually(t, func() bool { return e.head("main") != "" && scrape(t, metricsURL)[lastSuccess] > 0 }, wait, tick,
		"a reconcile completes; logs:\n%s", logs)
	m := scrape(t, metricsURL)
	assert.NotContains(t, m, blockedGit)

	require.NoError(t, os.Rename(remote, remote+".away"))
	require.Eventually(t, func() bool { m = scrape(t, metricsURL); return m[blockedGit] == 1 }, wait, tick,
		"blocked on GitUnavailable; logs:\n%s", logs)
	stuckAt, errs := m[lastSuccess], m[errorsTotal]
	time.Sleep(2500 * time.Millisecond) // two more intervals of the outage
	m = scrape(t, metricsURL)
	assert.Equal(t, 1.0, m[blockedGit], "still blocked")
	assert.Equal(t, stuckAt, m[lastSuccess], "the last success does not move during the outage")
	assert.Equal(t, errs, m[errorsTotal], "an outage is no reconcile error: the old alert never fired")

	require.NoError(t, os.Rename(remote+".away", remote))
	require.Eventually(t, func() bool { m = scrape(t, metricsURL); _, ok := m[blockedGit]; return !ok }, wait, tick,
		"the outage is over; logs:\n%s", logs)
	assert.GreaterOrEqual(t, m[lastSuccess], stuckAt)
}
