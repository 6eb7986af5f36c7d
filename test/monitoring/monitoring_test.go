package monitoring_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/backend"
	"github.com/bindsync/bindsync/internal/cli/telemetry"
	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

var promql = parser.NewParser(parser.Options{})

// TestAlertRulesLoad: config/monitoring/prometheusrule.yaml's groups load
// as Prometheus (and `promtool check rules`) loads a rule file: every
// expression parses, every `for` is a duration, every annotation template
// compiles.
func TestAlertRulesLoad(t *testing.T) {
	groups := alertRules(t)
	require.NotEmpty(t, groups.Groups)
	for _, g := range groups.Groups {
		require.NotEmpty(t, g.Rules, g.Name)
		for _, r := range g.Rules {
			assert.NotEmpty(t, r.Alert, "group %s: every rule is an alert", g.Name)
			assert.NotEmpty(t, r.Annotations["summary"], "alert %s says what is wrong", r.Alert)
		}
	}
}

// TestRulesAndDashboardReadRealMetrics: every metric the alert rules and
// the Grafana dashboard read is registered by a component (bindsync's own,
// bindsync_build_info, or controller-runtime's): renaming a metric without
// the rules and the dashboard fails here.
func TestRulesAndDashboardReadRealMetrics(t *testing.T) {
	known := registeredMetrics(t)
	used := map[string][]string{} // metric -> where it is read
	for _, g := range alertRules(t).Groups {
		for _, r := range g.Rules {
			for _, name := range metricNames(t, r.Expr) {
				used[name] = append(used[name], "alert "+r.Alert)
			}
		}
	}
	for where, expr := range dashboardQueries(t) {
		for _, name := range metricNames(t, expr) {
			used[name] = append(used[name], where)
		}
	}
	require.Contains(t, used, "bindsync_backend_blocked")
	require.Contains(t, used, "bindsync_agent_last_success_timestamp_seconds")
	require.Contains(t, used, telemetry.BuildInfoName)
	for name, where := range used {
		assert.True(t, known[name], "%s reads %s, which no component registers", strings.Join(where, ", "), name)
	}
}

// alertRules reads the PrometheusRule's spec as a rule file and loads it
// with Prometheus's own loader.
func alertRules(t *testing.T) *rulefmt.RuleGroups {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "monitoring", "prometheusrule.yaml"))
	require.NoError(t, err)
	var rule struct {
		Kind string          `json:"kind"`
		Spec json.RawMessage `json:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(data, &rule))
	require.Equal(t, "PrometheusRule", rule.Kind)
	file, err := yaml.JSONToYAML(rule.Spec)
	require.NoError(t, err)
	groups, errs := rulefmt.Parse(file, false, model.UTF8Validation, promql, slog.Default())
	require.Empty(t, errs, "the rules load as Prometheus loads them")
	return groups
}

// dashboardQueries returns the PromQL of every panel target and every
// query variable of the dashboard, by where it is, with Grafana's
// variables replaced by values PromQL takes.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "monitoring", "dashboards", "bindsync.json"))
	require.NoError(t, err)
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Name  string
				Type  string
				Query json.RawMessage
			}
		}
	}
	require.NoError(t, json.Unmarshal(data, &d))
	variable := regexp.MustCompile(`\$\{?(\w+)\}?`)
	substitute := func(expr string) string {
		return variable.ReplaceAllStringFunc(expr, func(v string) string {
			if strings.Contains(v, "__rate_interval") || strings.Contains(v, "__interval") {
				return "5m"
			}
			return ".*"
		})
	}
	out := map[string]string{}
	for _, p := range d.Panels {
		for i, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr, "panel %q target %d", p.Title, i)
			out["panel "+p.Title+" "+string(rune('A'+i))] = substitute(tg.Expr)
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		require.NoError(t, json.Unmarshal(v.Query, &q), "variable %s", v.Name)
		m := labelValues.FindStringSubmatch(q.Query)
		require.NotNil(t, m, "variable %s: a label_values(selector, label) query", v.Name)
		out["variable "+v.Name] = m[1]
	}
	require.NotEmpty(t, out)
	return out
}

// metricNames parses expr and returns the metric names its selectors read.
func metricNames(t *testing.T, expr string) []string {
	t.Helper()
	node, err := promql.ParseExpr(expr)
	require.NoError(t, err, expr)
	var names []string
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				name = m.Value
			}
		}
		require.NotEmpty(t, name, "%s: every selector names its metric", expr)
		names = append(names, name)
		return nil
	})
	sort.Strings(names)
	return names
}

// registeredMetrics returns the names of the series the components can
// serve: bindsync's metrics as each component registers them, and
// controller-runtime's (its registry, which the components' /metrics
// serves). A histogram's name stands for its _bucket, _sum and _count.
func registeredMetrics(t *testing.T) map[string]bool {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, telemetry.RegisterMetrics(reg, telemetry.ComponentBackend, backend.Metrics()...))
	require.NoError(t, telemetry.RegisterMetrics(reg, telemetry.ComponentAgent, agent.Metrics()...))
	crRegistry, ok := metrics.Registry.(prometheus.Collector)
	require.True(t, ok, "controller-runtime's registry describes its metrics")
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	known := map[string]bool{}
	for _, c := range []prometheus.Collector{reg, crRegistry} {
		ch := make(chan *prometheus.Desc)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			require.NotNil(t, m, d.String())
			for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
				known[m[1]+suffix] = true
			}
		}
	}
	require.True(t, known["bindsync_backend_commits_total"])
	require.True(t, known["leader_election_master_status"])
	return known
}
