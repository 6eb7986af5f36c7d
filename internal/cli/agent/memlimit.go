package agent

import (
	"fmt"
	"os"
	"runtime/debug"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/bindsync/bindsync/internal/memlimit"
)

// autoMemoryFraction of the container's memory limit is the agent's default
// soft memory limit: the Go collector works harder as the heap nears it,
// instead of letting garbage grow to twice the live heap and the container
// be killed for it.
const autoMemoryFraction = 0.9

// memoryLimit works out the soft memory limit (bytes) for runtime/debug's
// SetMemoryLimit from --memory-limit, GOMEMLIMIT and the cgroup's limit
// under cgroupRoot. 0 sets nothing (Go's default: no limit, or GOMEMLIMIT,
// which the runtime reads itself). how says where the limit came from.
//
//   - a quantity ("48Mi", "64M", bytes) sets that limit; "0" sets none;
//   - empty (the default) leaves a GOMEMLIMIT the environment sets to the
//     runtime, and otherwise takes 90% of the cgroup's memory limit (the
//     container's limits.memory), when there is one.
func memoryLimit(flag string, getenv func(string) string, cgroupRoot string) (limit int64, how string, err error) {
	if flag != "" {
		q, err := resource.ParseQuantity(flag)
		if err != nil {
			return 0, "", fmt.Errorf("agent: --memory-limit %q: %w", flag, err)
		}
		if q.Sign() < 0 {
			return 0, "", fmt.Errorf("agent: --memory-limit %q is negative", flag)
		}
		if q.IsZero() {
			return 0, "--memory-limit 0: none", nil
		}
		return q.Value(), "--memory-limit", nil
	}
	if getenv("GOMEMLIMIT") != "" {
		return 0, "GOMEMLIMIT", nil
	}
	cg, ok := memlimit.Container(cgroupRoot)
	if !ok {
		return 0, "none: no --memory-limit, GOMEMLIMIT or cgroup memory limit", nil
	}
	return int64(float64(cg) * autoMemoryFraction), fmt.Sprintf("90%% of the cgroup memory limit %d", cg), nil
}

// agentGCPercent is the agent's default GOGC. Go's default, 100, lets the
// heap grow to twice what is live before it collects; an agent with
// instance sync holds its caches live (some 57 MB at 200 bound APIs and
// 2,000 instances), so much of its resident memory was garbage waiting for
// the collector (BenchmarkInstanceSync, VmHWM: 172 MB at 100, 145 MB at 50,
// 140 MB at 40). The agent runs on every app cluster and is idle most of the
// time: memory is worth more there than the CPU of collecting more often.
// GOGC in the environment overrides it.
const agentGCPercent = 40

// gcPercent is the GC percent the agent sets: agentGCPercent unless the
// environment sets GOGC (the runtime has read it then), in which case ok is
// false and nothing is set.
func gcPercent(getenv func(string) string) (percent int, ok bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	return agentGCPercent, true
}

// setMemoryLimit applies memoryLimit's answer and the agent's GC percent,
// and says what it did.
func setMemoryLimit(flag string) (string, error) {
	limit, how, err := memoryLimit(flag, os.Getenv, memlimit.Root)
	if err != nil {
		return "", err
	}
	if p, ok := gcPercent(os.Getenv); ok {
		debug.SetGCPercent(p)
		how += fmt.Sprintf("; GOGC %d", p)
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
		return fmt.Sprintf("%d bytes (%s)", limit, how), nil
	}
	return how, nil
}
