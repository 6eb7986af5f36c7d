package instances

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The sync's metrics, served with the agent's on /metrics.
var (
	syncedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bindsync_agent_instances_synced_total",
		Help: "Writes that carried an instance across: up (spec to the provider copy, a consumer-owned claimed object), down (status to the app object, a provider-owned claimed object, a restored app object).",
	}, []string{"direction"})
	syncSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "bindsync_agent_instance_sync_seconds",
		Help:    "Time from a create or change seen on either side to its write on the other.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
	})
	syncFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bindsync_agent_instance_sync_failures_total",
		Help: "Instance syncs that failed, by reason: the API server's (Invalid, Forbidden, Conflict, ...) or ControlPlaneUnavailable.",
	}, []string{"reason"})
	copiesRestored = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bindsync_agent_instance_copies_restored_total",
		Help: "App objects made again from a provider copy whose app object was missing.",
	})
)

// Metrics returns the sync's collectors; the agent registers them with its
// own (agent.Metrics).
func Metrics() []prometheus.Collector {
	return []prometheus.Collector{syncedTotal, syncSeconds, syncFailures, copiesRestored}
}
