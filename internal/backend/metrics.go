package backend

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The backend's Prometheus metrics, served by the manager's metrics endpoint
// once registered (Metrics).
var (
	metricReconcileDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "bindsync_backend_reconcile_duration_seconds", Help: "Duration of one state reconcile.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
	})
	metricCommits = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bindsync_backend_commits_total", Help: "Commits written to main and approval branches."})
	metricPushes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bindsync_backend_pushes_total", Help: "Branch updates pushed to the state repository."})
	metricPushRetries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bindsync_backend_push_retries_total", Help: "Pushes rejected as non-fast-forward and retried on a fresh fetch."})
	metricPendingApprovals = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "bindsync_backend_pending_approvals", Help: "Requests waiting on an approval branch."})
	metricBreakingHeld = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "bindsync_backend_breaking_changes_held", Help: "Breaking schema changes held on a schema branch."})
	metricEventsSent = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bindsync_backend_events_total", Help: "Kubernetes events recorded on requests and templates."})
	metricEventsDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bindsync_backend_events_dropped_total", Help: "Kubernetes events the API server refused or could not take; the object's status still says what happened."})
	// An outage (git, the API server) is retried without returning an
	// error to controller-runtime, so its reconcile-error counter stays
	// flat: alerts read these two instead.
	metricLastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "bindsync_backend_last_success_timestamp_seconds", Help: "Unix time at which the last reconcile completed every phase (0: none yet in this process)."})
	metricBlocked = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bindsync_backend_blocked", Help: "1 while the last reconcile stopped on this reason (GitUnavailable, ControlPlaneUnavailable, CommitFailed, ...); no series while it completes."},
		[]string{"reason"})
)

// observeReconcile records how a reconcile ended, at now.
func observeReconcile(err error, now time.Time) {
	metricBlocked.Reset()
	if err != nil {
		metricBlocked.WithLabelValues(reasonOf(err)).Set(1)
		return
	}
	metricLastSuccess.Set(float64(now.Unix()))
}

// Metrics returns the backend's collectors, for `bindsync backend` to
// register when it starts (an agent never serves them).
func Metrics() []prometheus.Collector {
	return []prometheus.Collector{metricReconcileDuration, metricCommits, metricPushes,
		metricPushRetries, metricPendingApprovals, metricBreakingHeld, metricEventsSent, metricEventsDropped,
		metricLastSuccess, metricBlocked}
}
