package agent

import (
	"fmt"
	"os"
	"runtime/debug"

	"github.com/bindsync/bindsync/internal/memlimit"
)

// memoryPolicy is what an empty --memory-limit (the default) sets:
// GOMEMLIMIT when the environment sets one, else 90% of the container's
// memory limit, when there is one: the Go collector works harder as the
// heap nears it, instead of letting garbage grow to twice the live heap and
// the container be killed for it.
var memoryPolicy = memlimit.Policy{Share: 0.9}

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

// setMemoryLimit applies --memory-limit (memoryPolicy) and the agent's GC
// percent, and says what it did.
func setMemoryLimit(flag string) (string, error) {
	limit, how, err := memoryPolicy.Apply(flag)
	if err != nil {
		return "", err
	}
	if p, ok := gcPercent(os.Getenv); ok {
		debug.SetGCPercent(p)
		how += fmt.Sprintf("; GOGC %d", p)
	}
	if limit > 0 {
		return fmt.Sprintf("%d bytes (%s)", limit, how), nil
	}
	return how, nil
}
