package backend

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// TestAnOutageMovesTheAlertMetrics: a git outage is retried without an
// error to controller-runtime, so its error counter stays flat; the alert
// metrics say the backend is blocked, and why, and since when nothing
// completed.
func TestAnOutageMovesTheAlertMetrics(t *testing.T) {
	h := newHarness(t, newRequest("pg", "postgresql"))
	h.reconcile()
	healthy := h.now
	require.Equal(t, float64(healthy.Unix()), testutil.ToFloat64(metricLastSuccess))
	require.Zero(t, testutil.CollectAndCount(metricBlocked), "no blocked series while reconciles complete")

	h.now = h.now.Add(time.Hour)
	h.repo.fetchErr = errUnreachable
	res, err := h.rc.Reconcile(t.Context(), stateKey)
	require.NoError(t, err, "an outage is a requeue, not an error: controller-runtime's error counter does not move")
	require.NotZero(t, res.RequeueAfter)
	assert.Equal(t, 1.0, testutil.ToFloat64(metricBlocked.WithLabelValues(v1alpha1.GitUnavailableReason)))
	assert.Equal(t, 1, testutil.CollectAndCount(metricBlocked), "one reason at a time")
	assert.Equal(t, float64(healthy.Unix()), testutil.ToFloat64(metricLastSuccess), "the last success stays where it was")

	h.repo.fetchErr = nil
	h.reconcile()
	assert.Zero(t, testutil.CollectAndCount(metricBlocked), "the outage is over")
	assert.Equal(t, float64(h.now.Unix()), testutil.ToFloat64(metricLastSuccess))
}

// TestShippedAlertsUseTheBackendsMetrics: every bindsync_backend_ metric
// config/monitoring's rules read exists, and an outage alert reads
// bindsync_backend_blocked.
func TestShippedAlertsUseTheBackendsMetrics(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "monitoring", "prometheusrule.yaml"))
	require.NoError(t, err)
	described := map[string]bool{}
	for _, c := range []prometheus.Collector{metricReconcileDuration, metricCommits, metricPushes, metricPushRetries,
		metricPendingApprovals, metricBreakingHeld, metricEventsSent, metricEventsDropped, metricLastSuccess, metricBlocked} {
		ch := make(chan *prometheus.Desc, 4)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			described[regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String())[1]] = true
		}
	}
	used := regexp.MustCompile(`bindsync_backend_[a-z_]+`).FindAllString(string(data), -1)
	require.NotEmpty(t, used)
	for _, name := range used {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
		assert.True(t, described[base], "the alert rules read %s, which the backend does not export", name)
	}
	assert.Contains(t, string(data), "max by (reason) (bindsync_backend_blocked) > 0")
}

// TestOperationsDocumentsTheShippedAlerts: docs/operations.md names every
// alert config/monitoring ships, and no alert it does not ship, so an
// operator who reads the runbook finds the rule that paged them.
func TestOperationsDocumentsTheShippedAlerts(t *testing.T) {
	rules, err := os.ReadFile(filepath.Join("..", "..", "config", "monitoring", "prometheusrule.yaml"))
	require.NoError(t, err)
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	require.NoError(t, err)
	names := func(re *regexp.Regexp, data []byte) map[string]bool {
		out := map[string]bool{}
		for _, m := range re.FindAllSubmatch(data, -1) {
			out[string(m[1])] = true
		}
		return out
	}
	shipped := names(regexp.MustCompile(`(?m)^\s*- alert: (\w+)`), rules)
	documented := names(regexp.MustCompile("(?:`|alert: )(Bindsync[A-Z][A-Za-z]+)"), doc)
	require.NotEmpty(t, shipped)
	for name := range shipped {
		assert.True(t, documented[name], "config/monitoring ships alert %s, which docs/operations.md does not name", name)
	}
	for name := range documented {
		assert.True(t, shipped[name], "docs/operations.md names alert %s, which config/monitoring does not ship", name)
	}
}
