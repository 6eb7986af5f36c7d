package telemetry_test

import (
	"runtime"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/cli/telemetry"
)

// TestRegisterMetricsAddsBuildInfo: a component registers its own
// collectors and bindsync_build_info; registering again (a second start in
// one process) is not an error, and a clash with another collector is.
func TestRegisterMetricsAddsBuildInfo(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	own := prometheus.NewCounter(prometheus.CounterOpts{Name: "bindsync_test_total", Help: "A test counter."})
	require.NoError(t, telemetry.RegisterMetrics(reg, telemetry.ComponentAgent, own))
	require.NoError(t, telemetry.RegisterMetrics(reg, telemetry.ComponentAgent, own), "a second start")

	families, err := reg.Gather()
	require.NoError(t, err)
	names := map[string]bool{}
	for _, f := range families {
		names[f.GetName()] = true
		if f.GetName() != telemetry.BuildInfoName {
			continue
		}
		require.Len(t, f.GetMetric(), 1)
		labels := map[string]string{}
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		assert.Equal(t, "agent", labels["component"])
		assert.Equal(t, runtime.Version(), labels["goversion"])
		assert.NotEmpty(t, labels["version"])
		assert.NotEmpty(t, labels["commit"])
		assert.Equal(t, 1.0, f.GetMetric()[0].GetGauge().GetValue())
	}
	assert.True(t, names[telemetry.BuildInfoName])
	assert.Equal(t, 1, testutil.CollectAndCount(own), "its own collector is served")

	clash := prometheus.NewGauge(prometheus.GaugeOpts{Name: "bindsync_test_total", Help: "A test counter."})
	err = telemetry.RegisterMetrics(reg, telemetry.ComponentAgent, clash)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "register the agent's metrics")
}
