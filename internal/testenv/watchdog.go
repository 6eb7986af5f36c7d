package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// watchdog stops a server's processes if the test binary dies without
// stopping them: a panicking test or a -timeout kill skips every cleanup, and
// envtest starts kube-apiserver and etcd in their own process groups, so they
// would otherwise run on. It is a shell loop that polls this process and then
// signals the servers by process id. Their temporary folders stay behind.
type watchdog struct{ cmd *exec.Cmd }

// startWatchdog finds the processes whose command line mentions one of
// markers (the API server's certificate folder, etcd's data folder: unique
// temporary paths) and watches over them. It finds nothing and does nothing
// where there is no /proc.
func startWatchdog(markers ...string) *watchdog {
	return watch(os.Getpid(), markers...)
}

// watch stops the processes that mention markers once process parent is gone.
func watch(parent int, markers ...string) *watchdog {
	pids := processesMentioning(markers...)
	if len(pids) == 0 {
		return nil
	}
	// SIGTERM starts kube-apiserver's graceful shutdown, which hangs once etcd
	// is gone: SIGKILL whatever is left after a few seconds.
	script := `parent=$1; shift
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
kill "$@" 2>/dev/null; sleep 3; kill -9 "$@" 2>/dev/null`
	args := append([]string{"-c", script, "bindsync-testenv-watchdog", strconv.Itoa(parent)}, pids...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil
	}
	return &watchdog{cmd: cmd}
}

// stop ends the watchdog once the servers were stopped normally.
func (w *watchdog) stop() {
	if w == nil {
		return
	}
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
}

// processesMentioning returns the ids of processes whose command line
// contains any of markers.
func processesMentioning(markers ...string) []string {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return nil
	}
	var pids []string
	for _, dir := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil {
			continue
		}
		for _, m := range markers {
			// Arguments end in NUL; a folder may be followed by "/file".
			if m != "" && (bytes.Contains(cmdline, []byte(m+"\x00")) || bytes.Contains(cmdline, []byte(m+"/"))) {
				pids = append(pids, filepath.Base(dir))
				break
			}
		}
	}
	return pids
}
