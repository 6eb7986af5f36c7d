package scale

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/testenv"
	"github.com/bindsync/bindsync/internal/testutil/procmem"
)

// buildBindsync builds cmd/bindsync into a temporary folder as it ships
// (testenv.BuildBindsync): the RSS measured depends on it.
func buildBindsync(b *testing.B) string {
	bin, err := testenv.BuildBindsync(b.TempDir())
	require.NoError(b, err)
	return bin
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	defer l.Close()
	return l.Addr().String()
}

// backendProcess is `bindsync backend` running as its own process, its RSS
// sampled every 200 ms from /proc.
type backendProcess struct {
	cmd         *exec.Cmd
	metricsAddr string
	logFile     string
	done        chan struct{}
	// pprofAddr serves the backend's profiles when profileDir is set: a
	// heap profile is written there each time VmRSS passes its highest
	// profiled value by 8 MB, so the last one is the profile at the peak.
	pprofAddr   string
	profileDir  string
	profiledRSS int64 // read and written by the sampler's goroutine only

	sampler  *procmem.Sampler
	finalHWM int64
}

func startBackend(b *testing.B, bin, kubeconfig, dataDir string, interval time.Duration, profileDir string, extra ...string) *backendProcess {
	p := &backendProcess{metricsAddr: freeAddr(b), logFile: filepath.Join(b.TempDir(), "backend.log"), done: make(chan struct{}),
		profileDir: profileDir}
	logs, err := os.Create(p.logFile)
	require.NoError(b, err)
	args := []string{"backend", "--kubeconfig", kubeconfig, "--data-dir", dataDir,
		"--leader-elect=false", "--interval", interval.String(),
		"--metrics-bind-address", p.metricsAddr, "--health-probe-bind-address", freeAddr(b)}
	if profileDir != "" {
		require.NoError(b, os.MkdirAll(profileDir, 0o755))
		p.pprofAddr = freeAddr(b)
		args = append(args, "--pprof-bind-address", p.pprofAddr)
	}
	p.cmd = exec.Command(bin, append(args, extra...)...)
	p.cmd.Stdout, p.cmd.Stderr = logs, logs
	require.NoError(b, p.cmd.Start())
	p.sampler = procmem.Sample(p.cmd.Process.Pid, 200*time.Millisecond, p.profileAtPeak)
	b.Cleanup(func() { p.stop(b); logs.Close() })
	return p
}

// profileAtPeak writes a heap profile when VmRSS passed the highest
// profiled value by 8 MB (see pprofAddr).
func (p *backendProcess) profileAtPeak(m procmem.Memory) {
	if p.pprofAddr != "" && m.RSS > p.profiledRSS+8<<20 && p.heapProfile(m.RSS) == nil {
		p.profiledRSS = m.RSS
	}
}

// heapProfile writes the backend's heap profile to heap-at-peak.pb.gz in
// the profile folder, and the VmRSS it was taken at to heap-at-peak.txt.
func (p *backendProcess) heapProfile(rss int64) error {
	c := http.Client{Timeout: 20 * time.Second}
	resp, err := c.Get("http://" + p.pprofAddr + "/debug/pprof/heap")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heap profile: %s", resp.Status)
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.profileDir, "heap-at-peak.pb.gz"), data, 0o644); err != nil {
		return err
	}
	note := fmt.Sprintf("VmRSS %.1f MB at %s\n", float64(rss)/(1<<20), time.Now().Format(time.RFC3339))
	return os.WriteFile(filepath.Join(p.profileDir, "heap-at-peak.txt"), []byte(note), 0o644)
}

// memory returns the peak sampled VmRSS and the kernel's VmHWM (the high
// water mark of RSS over the process's life, so nothing between samples is
// missed), in bytes.
func (p *backendProcess) memory() (peakSampled, hwm, last int64, samples int) {
	now, _ := procmem.Read(p.cmd.Process.Pid)
	peak, lastSample, samples := p.sampler.Peak()
	return peak.RSS, now.HWM, lastSample.RSS, samples
}

func (p *backendProcess) exited() bool {
	return p.cmd.ProcessState != nil || syscall.Kill(p.cmd.Process.Pid, 0) != nil
}

func (p *backendProcess) stop(b *testing.B) {
	select {
	case <-p.done:
		return
	default:
		close(p.done)
	}
	p.sampler.Stop()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	exited := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-exited
		b.Log("bindsync backend did not stop on SIGTERM within 30s; killed")
	}
}

// logTail returns the last n bytes of the backend's log.
func (p *backendProcess) logTail(n int64) string {
	f, err := os.Open(p.logFile)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err.Error()
	}
	if st.Size() > n {
		_, _ = f.Seek(st.Size()-n, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	return string(data)
}

// metrics scrapes the backend's Prometheus endpoint: sample line (name and
// labels as written) to value.
func (p *backendProcess) metrics(ctx context.Context) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.metricsAddr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, s.Err()
}

// sum adds the samples of metric name whose labels contain every one of
// the given `key="value"` pairs.
func sum(m map[string]float64, name string, labels ...string) float64 {
	var total float64
	for k, v := range m {
		if k != name && !strings.HasPrefix(k, name+"{") {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(k, l) {
				ok = false
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// writes counts the backend's API requests that change something: every
// method but GET (client-go's request metrics cannot tell a dry run from a
// write, so a dry-run PATCH counts as a write here; the backend makes dry
// runs only while applying, which a no-op reconcile does not do).
func writes(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		out[method] = sum(m, "rest_client_requests_total", `method="`+method+`"`)
	}
	return out
}
