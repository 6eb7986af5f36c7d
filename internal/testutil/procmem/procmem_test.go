package procmem_test

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/bindsync/bindsync/internal/testutil/golden"
	"github.com/bindsync/bindsync/internal/testutil/procmem"
)

func TestRead(t *testing.T) {
	m, err := procmem.Read(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, m.RSS)
	assert.GreaterOrEqual(t, m.HWM, m.RSS)
	assert.Positive(t, m.Anon+m.File)

	_, err = procmem.Read(-1)
	assert.ErrorContains(t, err, "memory of process -1")
}

func TestSample(t *testing.T) {
	seen := 0
	s := procmem.Sample(os.Getpid(), time.Millisecond, func(procmem.Memory) { seen++ })
	time.Sleep(20 * time.Millisecond)
	peak := s.Stop()
	_, last, samples := s.Peak()
	assert.Positive(t, peak.RSS)
	assert.GreaterOrEqual(t, peak.RSS, last.RSS)
	assert.Equal(t, samples, seen)
	assert.GreaterOrEqual(t, samples, 2)
	assert.Equal(t, peak, s.Stop(), "a second Stop returns the same peak")
}
