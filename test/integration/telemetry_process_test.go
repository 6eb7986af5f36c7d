package integration

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/testenv"
)

// TestIntegrationComponentsLogAndMeasureAlike runs the shipped binary as
// `bindsync backend` and as `bindsync agent`: each /metrics serves the
// component's own metrics, its last-success timestamp and
// bindsync_build_info, never the other component's (the binary links
// both); --log-format and --log-level choose how and how much each logs,
// with RFC 3339 timestamps.
func TestIntegrationComponentsLogAndMeasureAlike(t *testing.T) {
	const wait, tick = 60 * time.Second, 200 * time.Millisecond
	bin := buildBindsync(t)
	cp, app := testenv.StartPair(t) // servers of its own: the backend reconciles whatever the control plane holds
	dataDir := filepath.Join(t.TempDir(), "state.git")
	backendMetrics, agentMetrics := freeAddr(t), freeAddr(t)
	backend := startComponentProcess(t, bin, "backend", "--kubeconfig", cp.WriteKubeconfig(t), "--data-dir", dataDir,
		"--leader-elect=false", "--metrics-bind-address", backendMetrics, "--health-probe-bind-address", "0",
		"--log-format", "console")
	agent := startComponentProcess(t, bin, "agent", "--kubeconfig", app.WriteKubeconfig(t), "--cluster", "telemetry",
		"--repo", "file://"+dataDir, "--metrics-bind-address", agentMetrics, "--health-probe-bind-address", "0")
	quiet := startComponentProcess(t, bin, "agent", "--kubeconfig", app.WriteKubeconfig(t), "--cluster", "telemetry-quiet",
		"--repo", "file://"+dataDir, "--metrics-bind-address", "0", "--health-probe-bind-address", "0",
		"--log-level", "error")

	for _, tc := range []struct {
		component, addr, other string
		own                    []string
	}{
		{"backend", backendMetrics, "bindsync_agent_", []string{"bindsync_backend_commits_total", "bindsync_backend_last_success_timestamp_seconds"}},
		{"agent", agentMetrics, "bindsync_backend_", []string{"bindsync_agent_crds_applied_total", "bindsync_agent_last_success_timestamp_seconds",
			"bindsync_agent_instance_copies_restored_total"}},
	} {
		var m map[string]float64
		require.Eventually(t, func() bool {
			m = tryScrape("http://" + tc.addr + "/metrics")
			return m != nil
		}, wait, tick, "%s serves /metrics; logs:\n%s\n%s", tc.component, backend.logs, agent.logs)
		for _, name := range tc.own {
			_, ok := m[name]
			assert.True(t, ok, "%s serves %s", tc.component, name)
		}
		info := 0
		for series, v := range m {
			assert.False(t, strings.HasPrefix(series, tc.other), "%s serves the other component's %s", tc.component, series)
			if strings.HasPrefix(series, "bindsync_build_info{") {
				info++
				assert.Contains(t, series, `component="`+tc.component+`"`)
				assert.Contains(t, series, `goversion="go`)
				assert.Equal(t, 1.0, v)
			}
		}
		assert.Equal(t, 1, info, "%s serves one bindsync_build_info", tc.component)
	}

	require.Eventually(t, func() bool {
		return strings.Contains(backend.logs.String(), "starting backend") && strings.Contains(agent.logs.String(), "agent starting")
	}, wait, tick, "both log that they start:\n%s\n%s", backend.logs, agent.logs)
	for _, line := range logLines(backend.logs.String()) {
		fields := strings.Split(line, "\t")
		require.GreaterOrEqual(t, len(fields), 3, "--log-format console: time, level, message: %q", line)
		_, err := time.Parse(time.RFC3339, fields[0])
		assert.NoError(t, err, "an RFC 3339 timestamp: %q", line)
	}
	for _, line := range logLines(agent.logs.String()) {
		var rec struct{ TS, Level string }
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "the default format is JSON: %q", line)
		_, err := time.Parse(time.RFC3339, rec.TS)
		assert.NoError(t, err, "an RFC 3339 timestamp: %q", line)
	}
	quiet.stop(t)
	assert.NotContains(t, quiet.logs.String(), "agent starting", "--log-level error keeps the information out")
	assert.NotContains(t, quiet.logs.String(), `"level":"info"`)
}

// componentProcess is a bindsync command running as a process of its own.
type componentProcess struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

func startComponentProcess(t *testing.T, bin string, args ...string) *componentProcess {
	p := &componentProcess{cmd: exec.Command(bin, args...), logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop ends the process as a rolling update does (SIGTERM) and waits.
func (p *componentProcess) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("%s did not end", p.cmd.Args[1])
	}
}

// tryScrape is scrape that says nil while nothing answers yet.
func tryScrape(url string) map[string]float64 {
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil
		}
		out[line[:i]] = v
	}
	return out
}

func logLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}
