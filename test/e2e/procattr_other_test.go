//go:build !linux

package e2e

import "syscall"

// dieWithParent: only Linux can tie a process's life to its parent's; elsewhere
// a killed test binary leaves its bindsync processes to fail against the
// stopped API servers.
func dieWithParent() *syscall.SysProcAttr { return nil }
