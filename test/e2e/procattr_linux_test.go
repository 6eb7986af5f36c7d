package e2e

import "syscall"

// dieWithParent makes the kernel kill a started process when the test binary
// dies without stopping it (a panic, a -timeout kill).
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
