package backend

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTheMemoryLimitComesFromTheFlagGOMEMLIMITOrTheContainer: --memory-limit
// sets the Go runtime's soft memory limit; by default $GOMEMLIMIT stands,
// else 170 MiB or 80% of a smaller container limit.
func TestTheMemoryLimitComesFromTheFlagGOMEMLIMITOrTheContainer(t *testing.T) {
	const gi = int64(1) << 30
	container := func(n int64) func() (int64, bool) { return func() (int64, bool) { return n, n > 0 } }
	cases := []struct {
		name       string
		flag, env  string
		cgroup     int64
		want       int64
		wantSource string
		wantErr    string
	}{
		{name: "auto in a container with a 1Gi limit: 170Mi", flag: "auto", cgroup: gi,
			want: 170 << 20, wantSource: "default"},
		{name: "auto in a container with a 128Mi limit: 80% of it", flag: "auto", cgroup: 128 << 20,
			want: (128 << 20) * 8 / 10, wantSource: "80% of the container's memory limit"},
		{name: "auto with $GOMEMLIMIT set: the runtime's own stands", flag: "auto", env: "300MiB", cgroup: gi,
			want: 0, wantSource: "$GOMEMLIMIT"},
		{name: "auto with no container limit: 170Mi", flag: "auto",
			want: 170 << 20, wantSource: "default"},
		{name: "a quantity wins over $GOMEMLIMIT and the container", flag: "200Mi", env: "300MiB", cgroup: gi,
			want: 200 << 20, wantSource: "--memory-limit"},
		{name: "0 is none, even in a container", flag: "0", cgroup: gi,
			want: 0, wantSource: "none"},
		{name: "not a quantity", flag: "lots", wantErr: `--memory-limit "lots" is not a quantity`},
		{name: "negative", flag: "-1Gi", wantErr: `--memory-limit "-1Gi" is not a quantity`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, source, err := memoryLimit(tc.flag, tc.env, container(tc.cgroup))
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.Contains(t, source, tc.wantSource)
		})
	}
}
