package testenv

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuildStandinProvider(t *testing.T) {
	bin, err := BuildStandinProvider(t.TempDir())
	require.NoError(t, err)
	info, err := os.Stat(bin)
	require.NoError(t, err)
	assert.NotZero(t, info.Mode()&0o111, "executable")
}
