package agent

import (
	"testing"
)

// The --memory-limit policy's cases are in internal/memlimit (policy_test.go).

func TestGCPercentDefaultsLowerAndYieldsToGOGC(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if p, ok := gcPercent(env(nil)); !ok || p != agentGCPercent || p >= 100 {
		t.Errorf("no GOGC: got %d, %v; want %d (below Go's 100), true", p, ok, agentGCPercent)
	}
	if _, ok := gcPercent(env(map[string]string{"GOGC": "200"})); ok {
		t.Error("GOGC set: the agent must leave the runtime's reading of it alone")
	}
}

// TestTheAgentsMemoryLimitIsNinetyPercentOfTheContainers: the agent's
// --memory-limit defaults to empty, which is 90% of the container's limit,
// and none without one (the parser's cases are in internal/memlimit).
func TestTheAgentsMemoryLimitIsNinetyPercentOfTheContainers(t *testing.T) {
	noEnv := func(string) string { return "" }
	if d := NewCommand(nil, nil).Flags().Lookup("memory-limit").DefValue; d != "" {
		t.Errorf("--memory-limit defaults to %q, want empty", d)
	}
	if got, _, err := memoryPolicy.Limit("", noEnv, func() (int64, bool) { return 100000000, true }); err != nil || got != 90000000 {
		t.Errorf("a 100000000-byte container: got %d, %v; want 90000000", got, err)
	}
	if got, _, err := memoryPolicy.Limit("", noEnv, func() (int64, bool) { return 0, false }); err != nil || got != 0 {
		t.Errorf("no container limit: got %d, %v; want 0 (none)", got, err)
	}
}
