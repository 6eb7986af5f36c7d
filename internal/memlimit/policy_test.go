package memlimit_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/memlimit"
)

// The commands' policies, as internal/cli/backend and internal/cli/agent
// set them.
var (
	backend = memlimit.Policy{Share: 0.8, Default: 170 << 20}
	agent   = memlimit.Policy{Share: 0.9}
)

// TestTheMemoryLimitComesFromTheFlagGOMEMLIMITOrTheContainer: --memory-limit
// sets the Go runtime's soft memory limit; by default (auto, or empty)
// $GOMEMLIMIT stands, else the command's share of the container's memory
// limit (cgroup v2 or v1), capped by its default (the backend: 170 MiB or
// 80% of a smaller container limit; the agent: 90% of the container's limit,
// none without one). A bad value is refused with the flag's name.
func TestTheMemoryLimitComesFromTheFlagGOMEMLIMITOrTheContainer(t *testing.T) {
	const gi = 1 << 30
	cases := []struct {
		name      string
		policy    memlimit.Policy
		flag, env string
		cgroup    map[string]string // files under the cgroup root
		want      int64
		wantHow   string
		wantErr   string
	}{
		// the backend's policy (default "auto")
		{name: "backend: auto with a 1Gi container limit: 170Mi", policy: backend, flag: "auto", cgroup: map[string]string{"memory.max": "1073741824\n"},
			want: 170 << 20, wantHow: "--memory-limit=auto's default"},
		{name: "backend: auto with a 128Mi container limit: 80% of it", policy: backend, flag: "auto", cgroup: map[string]string{"memory.max": "134217728\n"},
			want: (128 << 20) * 8 / 10, wantHow: "80% of the container's memory limit (134217728 bytes)"},
		{name: "backend: auto with $GOMEMLIMIT set: the runtime's own stands", policy: backend, flag: "auto", env: "300MiB", cgroup: map[string]string{"memory.max": "1073741824\n"},
			wantHow: "$GOMEMLIMIT"},
		{name: "backend: auto with no container limit: 170Mi", policy: backend, flag: "auto",
			want: 170 << 20, wantHow: "--memory-limit=auto's default"},
		{name: "backend: a quantity wins over $GOMEMLIMIT and the container", policy: backend, flag: "200Mi", env: "300MiB", cgroup: map[string]string{"memory.max": "1073741824\n"},
			want: 200 << 20, wantHow: "--memory-limit"},
		{name: "backend: 0 is none, even in a container", policy: backend, flag: "0", cgroup: map[string]string{"memory.max": "1073741824\n"},
			wantHow: "none (--memory-limit=0)"},
		{name: "backend: not a quantity", policy: backend, flag: "lots", wantErr: `--memory-limit "lots" is not a quantity`},
		{name: "backend: negative", policy: backend, flag: "-1Gi", wantErr: `--memory-limit "-1Gi" is not a quantity of bytes such as 400Mi, 0 or auto: it is negative`},

		// the agent's policy (default empty)
		{name: "agent: a quantity sets that limit", policy: agent, flag: "48Mi", want: 48 << 20, wantHow: "--memory-limit"},
		{name: "agent: bytes set that limit", policy: agent, flag: "50000000", want: 50000000, wantHow: "--memory-limit"},
		{name: "agent: the flag wins over GOMEMLIMIT and the cgroup", policy: agent, flag: "64Mi", env: "1GiB", cgroup: map[string]string{"memory.max": "268435456\n"},
			want: 64 << 20, wantHow: "--memory-limit"},
		{name: "agent: 0 sets none, even in a limited cgroup", policy: agent, flag: "0", cgroup: map[string]string{"memory.max": "268435456\n"},
			wantHow: "none (--memory-limit=0)"},
		{name: "agent: by default GOMEMLIMIT is left to the runtime", policy: agent, env: "100MiB", cgroup: map[string]string{"memory.max": "268435456\n"},
			wantHow: "$GOMEMLIMIT"},
		{name: "agent: by default 90% of a cgroup v2 limit", policy: agent, cgroup: map[string]string{"memory.max": "268435456\n"},
			want: 241591910, wantHow: "90% of the container's memory limit (268435456 bytes)"},
		{name: "agent: by default 90% of a cgroup v1 limit", policy: agent, cgroup: map[string]string{"memory/memory.limit_in_bytes": "100000000\n"},
			want: 90000000, wantHow: "90% of the container's memory limit (100000000 bytes)"},
		{name: "agent: auto is the default too", policy: agent, flag: "auto", cgroup: map[string]string{"memory.max": "100000000\n"},
			want: 90000000, wantHow: "90% of the container's memory limit (100000000 bytes)"},
		{name: "agent: cgroup v2 without limit: none", policy: agent, cgroup: map[string]string{"memory.max": "max\n"},
			wantHow: "none: no --memory-limit, $GOMEMLIMIT or container memory limit"},
		{name: "agent: cgroup v1 without limit: none", policy: agent, cgroup: map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"},
			wantHow: "none: no --memory-limit, $GOMEMLIMIT or container memory limit"},
		{name: "agent: no cgroup files: none", policy: agent,
			wantHow: "none: no --memory-limit, $GOMEMLIMIT or container memory limit"},
		{name: "agent: a flag that is no quantity is refused", policy: agent, flag: "lots", wantErr: `--memory-limit "lots"`},
		{name: "agent: a negative flag is refused", policy: agent, flag: "-1Mi", wantErr: "is negative"},
	}
	for _, tc := range cases {
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
			got, how, err := tc.policy.Limit(tc.flag, getenv, func() (int64, bool) { return memlimit.Container(root) })
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.wantHow, how)
		})
	}
}
