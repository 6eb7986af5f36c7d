package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemoryLimit: --memory-limit sets the Go runtime's soft memory limit;
// by default a GOMEMLIMIT is left to the runtime, and otherwise the agent
// takes 90% of its container's memory limit (cgroup v2 or v1), so that
// garbage does not grow until the container is killed.
func TestMemoryLimit(t *testing.T) {
	tests := []struct {
		name      string
		flag      string
		env       string
		cgroup    map[string]string // files under the cgroup root
		wantLimit int64
		wantHow   string
		wantErr   string
	}{
		{name: "a quantity sets that limit", flag: "48Mi", wantLimit: 48 << 20, wantHow: "--memory-limit"},
		{name: "bytes set that limit", flag: "50000000", wantLimit: 50000000, wantHow: "--memory-limit"},
		{name: "the flag wins over GOMEMLIMIT and the cgroup", flag: "64Mi", env: "1GiB", cgroup: map[string]string{"memory.max": "268435456\n"}, wantLimit: 64 << 20, wantHow: "--memory-limit"},
		{name: "0 sets none, even in a limited cgroup", flag: "0", cgroup: map[string]string{"memory.max": "268435456\n"}, wantHow: "--memory-limit 0: none"},
		{name: "by default GOMEMLIMIT is left to the runtime", env: "100MiB", cgroup: map[string]string{"memory.max": "268435456\n"}, wantHow: "GOMEMLIMIT"},
		{name: "by default 90% of a cgroup v2 limit", cgroup: map[string]string{"memory.max": "268435456\n"}, wantLimit: 241591910, wantHow: "90% of the cgroup memory limit 268435456"},
		{name: "by default 90% of a cgroup v1 limit", cgroup: map[string]string{"memory/memory.limit_in_bytes": "100000000\n"}, wantLimit: 90000000, wantHow: "90% of the cgroup memory limit 100000000"},
		{name: "cgroup v2 without limit: none", cgroup: map[string]string{"memory.max": "max\n"}, wantHow: "none: no --memory-limit, GOMEMLIMIT or cgroup memory limit"},
		{name: "cgroup v1 without limit: none", cgroup: map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}, wantHow: "none: no --memory-limit, GOMEMLIMIT or cgroup memory limit"},
		{name: "no cgroup files: none", wantHow: "none: no --memory-limit, GOMEMLIMIT or cgroup memory limit"},
		{name: "a flag that is no quantity is refused", flag: "lots", wantErr: `--memory-limit "lots"`},
		{name: "a negative flag is refused", flag: "-1Mi", wantErr: "is negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for p, c := range tc.cgroup {
				require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte(c), 0o644))
			}
			getenv := func(k string) string {
				if k == "GOMEMLIMIT" {
					return tc.env
				}
				return ""
			}
			limit, how, err := memoryLimit(tc.flag, getenv, root)
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantLimit, limit)
			assert.Equal(t, tc.wantHow, how)
		})
	}
}

func TestGCPercentDefaultsLowerAndYieldsToGOGC(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if p, ok := gcPercent(env(nil)); !ok || p != agentGCPercent || p >= 100 {
		t.Errorf("no GOGC: got %d, %v; want %d (below Go's 100), true", p, ok, agentGCPercent)
	}
	if _, ok := gcPercent(env(map[string]string{"GOGC": "200"})); ok {
		t.Error("GOGC set: the agent must leave the runtime's reading of it alone")
	}
}
