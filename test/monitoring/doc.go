// Package monitoring checks config/monitoring against the components: its
// alert rules load as Prometheus loads them (promtool's packages), and every
// metric the rules and the Grafana dashboard read is one a component
// registers. It is a module of its own because Prometheus's packages need
// newer versions of modules bindsync shares with Kubernetes; `make test`
// runs it.
package monitoring
