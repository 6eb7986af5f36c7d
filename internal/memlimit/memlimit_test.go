package memlimit_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/memlimit"
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // defines -update for go test ./... -update
)

func TestACgroupMemoryLimitIsReadFromV1AndV2(t *testing.T) {
	cases := []struct {
		name, path, file string
		want             int64
		limited          bool
	}{
		{name: "v2 with a limit", path: "memory.max", file: "1073741824\n", want: 1 << 30, limited: true},
		{name: "v2 without: max", path: "memory.max", file: "max\n"},
		{name: "v1 without: near the largest int64", path: "memory/memory.limit_in_bytes", file: "9223372036854771712\n"},
		{name: "v1 with a limit", path: "memory/memory.limit_in_bytes", file: "536870912", want: 512 << 20, limited: true},
		{name: "no cgroup file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			if tc.path != "" {
				p := filepath.Join(root, filepath.FromSlash(tc.path))
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				require.NoError(t, os.WriteFile(p, []byte(tc.file), 0o644))
			}
			got, ok := memlimit.Container(root)
			assert.Equal(t, tc.limited, ok)
			assert.Equal(t, tc.want, got)
		})
	}
}
