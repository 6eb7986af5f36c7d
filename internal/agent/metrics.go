package agent

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent/instances"
	"github.com/bindsync/bindsync/internal/agent/source"
)

// The agent's metrics, served with controller-runtime's on /metrics once
// registered (Metrics).
var (
	syncDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "bindsync_agent_sync_duration_seconds", Help: "Duration of one agent pass, by result.",
		Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
	}, []string{"result"})
	fetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bindsync_agent_fetches_total", Help: "Passes by what the source did: fetched (the head moved), skipped (it did not), failed.",
	}, []string{"result"})
	crdsApplied = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bindsync_agent_crds_applied_total", Help: "CustomResourceDefinitions created or changed.",
	})
	driftCorrected = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bindsync_agent_drift_corrected_total", Help: "CustomResourceDefinitions set back to git while the revision did not move (hand edits).",
	})
	refusals = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bindsync_agent_refusals_total", Help: "Objects of the cluster's folder the agent did not apply, per pass that built a new revision.",
	})
	reportFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bindsync_agent_report_failures_total", Help: "Passes whose report back to the control plane (ConsumerInSync on exports) failed; the pass itself is not failed for it.",
	})
	// A failing pass is retried without an error to controller-runtime;
	// alerts read these two.
	lastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "bindsync_agent_last_success_timestamp_seconds", Help: "Unix time at which the last pass succeeded (0: none yet in this process).",
	})
	blocked = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "bindsync_agent_blocked", Help: "1 while the last pass failed for this reason: SourceUnavailable, SignatureInvalid or SyncFailed (a build, apply or status write); no series while passes succeed.",
	}, []string{"reason"})
	webhookCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bindsync_agent_webhook_calls_total", Help: "Webhook calls by result: accepted, ignored (not a push to the followed branch), unsigned, bad_signature, bad_request.",
	}, []string{"result"})
)

// Metrics returns the agent's collectors, the instance sync's included,
// for `bindsync agent` to register when it starts (a backend never serves
// them).
func Metrics() []prometheus.Collector {
	return append([]prometheus.Collector{syncDuration, fetches, crdsApplied, driftCorrected, refusals, reportFailures,
		lastSuccess, blocked, webhookCalls}, instances.Metrics()...)
}

// syncFailedLabel is bindsync_agent_blocked's reason for a pass that
// reached the source but failed later (build, apply, status).
const syncFailedLabel = "SyncFailed"

// observe records one pass.
func observe(res Result, err error, d time.Duration) {
	result := "success"
	blocked.Reset()
	switch {
	case err == nil:
		lastSuccess.SetToCurrentTime()
	case errors.Is(err, source.ErrSignatureInvalid):
		blocked.WithLabelValues(v1alpha1.SignatureInvalidReason).Set(1)
	case errors.Is(err, source.ErrUnavailable):
		blocked.WithLabelValues(v1alpha1.SourceUnavailableReason).Set(1)
	default:
		blocked.WithLabelValues(syncFailedLabel).Set(1)
	}
	if err != nil {
		result = "failure"
	}
	syncDuration.WithLabelValues(result).Observe(d.Seconds())
	switch {
	case errors.Is(err, source.ErrUnavailable) || errors.Is(err, source.ErrSignatureInvalid):
		fetches.WithLabelValues("failed").Inc()
	case res.Fetched:
		fetches.WithLabelValues("fetched").Inc()
		refusals.Add(float64(len(res.Refused)))
	default:
		fetches.WithLabelValues("skipped").Inc()
		driftCorrected.Add(float64(len(res.Applied.Configured)))
	}
	crdsApplied.Add(float64(len(res.Applied.Created) + len(res.Applied.Configured)))
	if res.ReportErr != nil {
		reportFailures.Inc()
	}
}
