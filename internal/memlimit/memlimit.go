// Package memlimit is the one parser of `--memory-limit`, the soft memory
// limit of `bindsync backend` and `bindsync agent`: each command has its
// Policy (what auto means), both parse the flag, read the container's limit
// from the cgroup and set the runtime's limit the same way.
package memlimit

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Root is where a container sees its cgroup.
const Root = "/sys/fs/cgroup"

// Container reads the memory limit of the process's cgroup under root, as a
// container sees it: cgroup v2 memory.max, else cgroup v1
// memory/memory.limit_in_bytes. false: no limit (or no such file).
func Container(root string) (int64, bool) {
	for _, p := range []string{"memory.max", filepath.Join("memory", "memory.limit_in_bytes")} {
		data, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			continue
		}
		return Parse(string(data))
	}
	return 0, false
}

// Parse reads a cgroup memory limit file: "max" (v2) or a number of bytes,
// where v1 says "none" with a number near the largest int64.
func Parse(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n >= 1<<60 {
		return 0, false
	}
	return n, true
}
