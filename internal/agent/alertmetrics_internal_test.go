package agent

import (
	"errors"
	"fmt"
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
	"github.com/bindsync/bindsync/internal/agent/source"
)

// TestAFailingPassMovesTheAlertMetrics: each failed pass says why in
// bindsync_agent_blocked{reason}, the last success stays where it was, and
// a pass that succeeds clears the reason.
func TestAFailingPassMovesTheAlertMetrics(t *testing.T) {
	observe(Result{}, nil, time.Millisecond)
	ok := testutil.ToFloat64(lastSuccess)
	assert.InDelta(t, float64(time.Now().Unix()), ok, 5)
	assert.Zero(t, testutil.CollectAndCount(blocked))

	cases := []struct {
		err    error
		reason string
	}{
		{fmt.Errorf("%w: ls-remote file:///gone: not found", source.ErrUnavailable), v1alpha1.SourceUnavailableReason},
		{fmt.Errorf("%w: main@sha1:1234: unknown key", source.ErrSignatureInvalid), v1alpha1.SignatureInvalidReason},
		{errors.New("apply main@sha1:1234: conflict"), syncFailedLabel},
	}
	for _, tc := range cases {
		observe(Result{}, tc.err, time.Millisecond)
		assert.Equal(t, 1.0, testutil.ToFloat64(blocked.WithLabelValues(tc.reason)), tc.reason)
		assert.Equal(t, 1, testutil.CollectAndCount(blocked), "one reason at a time")
		assert.Equal(t, ok, testutil.ToFloat64(lastSuccess), "a failed pass leaves the last success alone")
	}
	observe(Result{ReportErr: errors.New("Unauthorized")}, nil, time.Millisecond)
	assert.Zero(t, testutil.CollectAndCount(blocked), "a pass whose report back failed still succeeded")
}

// TestShippedAlertsUseTheAgentsMetrics: every bindsync_agent_ metric
// config/monitoring's rules read exists, and an outage alert reads
// bindsync_agent_blocked.
func TestShippedAlertsUseTheAgentsMetrics(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "monitoring", "prometheusrule.yaml"))
	require.NoError(t, err)
	described := map[string]bool{}
	for _, c := range []prometheus.Collector{syncDuration, fetches, crdsApplied, driftCorrected, refusals,
		reportFailures, lastSuccess, blocked, webhookCalls} {
		ch := make(chan *prometheus.Desc, 4)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			described[regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String())[1]] = true
		}
	}
	used := regexp.MustCompile(`bindsync_agent_[a-z_]+`).FindAllString(string(data), -1)
	require.NotEmpty(t, used)
	for _, name := range used {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
		assert.True(t, described[base], "the alert rules read %s, which the agent does not export", name)
	}
	assert.Contains(t, string(data), "(bindsync_agent_blocked) > 0")
}
