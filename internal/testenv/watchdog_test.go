package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWatchdogStopsServersWhenTheTestBinaryIsGone(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("the watchdog needs /proc")
	}
	marker := filepath.Join(t.TempDir(), "server-data")
	// A "server" whose command line mentions the marker, as etcd mentions its
	// --data-dir; a shell loop, so the shell stays the process we find.
	server := exec.Command("/bin/sh", "-c", "while :; do sleep 0.1; done", "fake-server", marker)
	require.NoError(t, server.Start())
	exited := make(chan error, 1)
	go func() { exited <- server.Wait() }()
	t.Cleanup(func() { _ = server.Process.Kill() })

	// "test binary": a process that dies on its own.
	parent := exec.Command("sleep", "1")
	require.NoError(t, parent.Start())
	w := watch(parent.Process.Pid, marker)
	require.NotNil(t, w, "the server was found by its marker")
	t.Cleanup(w.stop)
	require.NoError(t, parent.Wait())

	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the server still runs 10 s after its test binary is gone")
	}
}

func TestProcessesMentioningMatchesWholePaths(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("needs /proc")
	}
	dir := t.TempDir()
	p := exec.Command("/bin/sh", "-c", "while :; do sleep 0.1; done", "x", "--cert-dir="+dir+"1")
	require.NoError(t, p.Start())
	t.Cleanup(func() { _ = p.Process.Kill(); _ = p.Wait() })
	assert.Empty(t, processesMentioning(dir), "a longer path with the marker as prefix is another server's")
	// The shell's children share its command line for a moment after fork,
	// so more than one process may match; the shell itself always does.
	assert.Contains(t, processesMentioning(dir+"1"), strconv.Itoa(p.Process.Pid))
}
