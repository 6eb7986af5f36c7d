package telemetry

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bindsync/bindsync/internal/cli/version"
)

// Components, the values of bindsync_build_info's component label.
const (
	ComponentBackend = "backend"
	ComponentAgent   = "agent"
)

// BuildInfoName is the metric that says which build of which component
// serves the endpoint: always 1, its labels carry the information.
const BuildInfoName = "bindsync_build_info"

// BuildInfo returns bindsync_build_info{component,version,commit,goversion} 1
// for the running binary.
func BuildInfo(component string) prometheus.Collector {
	i := version.Get()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: BuildInfoName,
		Help: "Always 1: the component serving these metrics and the build it runs (version, commit, Go version).",
		ConstLabels: prometheus.Labels{"component": component, "version": i.Version,
			"commit": i.Commit, "goversion": i.GoVersion},
	})
	g.Set(1)
	return g
}

// RegisterMetrics registers a component's own collectors and its
// bindsync_build_info with reg, when the component starts: a binary that
// links both components serves only the metrics of the one it runs.
// Registering the same collectors again (a test that starts a component
// twice in one process) is not an error.
func RegisterMetrics(reg prometheus.Registerer, component string, collectors ...prometheus.Collector) error {
	info := BuildInfo(component)
	for _, c := range append([]prometheus.Collector{info}, collectors...) {
		err := reg.Register(c)
		var already prometheus.AlreadyRegisteredError
		if err == nil || errors.As(err, &already) && (already.ExistingCollector == c || c == info) {
			continue
		}
		return fmt.Errorf("register the %s's metrics: %w", component, err)
	}
	return nil
}
