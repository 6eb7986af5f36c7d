package backend

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/memlimit"
)

// TestTheBackendsMemoryLimitIsAutoBy170MiOr80Percent: the backend's
// --memory-limit defaults to auto, which is 170 MiB or 80% of a smaller
// container limit (the parser's cases are in internal/memlimit).
func TestTheBackendsMemoryLimitIsAutoBy170MiOr80Percent(t *testing.T) {
	noEnv := func(string) string { return "" }
	container := func(n int64) func() (int64, bool) { return func() (int64, bool) { return n, n > 0 } }
	assert.Equal(t, memlimit.Auto, NewCommand(nil, nil).Flags().Lookup("memory-limit").DefValue)
	got, _, err := memoryPolicy.Limit(memlimit.Auto, noEnv, container(1<<30))
	require.NoError(t, err)
	assert.Equal(t, int64(170<<20), got)
	got, _, err = memoryPolicy.Limit(memlimit.Auto, noEnv, container(128<<20))
	require.NoError(t, err)
	assert.Equal(t, int64(128<<20)*8/10, got)
}
