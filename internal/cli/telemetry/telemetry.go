// Package telemetry sets up what bindsync's long-running components
// (`bindsync backend`, `bindsync agent`) say about themselves: their log,
// configured by --log-level and --log-format, and the metrics their
// /metrics endpoint serves. Both components call it the same way, so they
// log and measure alike.
package telemetry
