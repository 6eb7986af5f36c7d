package kube

import (
	"net"
	"testing"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultAddrTurnsOffATakenDefaultPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	taken := l.Addr().String()

	fl := pflag.NewFlagSet("t", pflag.ContinueOnError)
	addr := fl.String("metrics-bind-address", taken, "")
	got, why := DefaultAddr(fl, "metrics-bind-address", *addr)
	assert.Equal(t, "0", got, "a default whose port is taken is turned off")
	assert.Contains(t, why, taken)

	require.NoError(t, fl.Parse([]string{"--metrics-bind-address", taken}))
	got, why = DefaultAddr(fl, "metrics-bind-address", *addr)
	assert.Equal(t, taken, got, "an address the user set is kept, so the start fails as asked")
	assert.Empty(t, why)

	free := pflag.NewFlagSet("t", pflag.ContinueOnError)
	freeAddr := free.String("health-probe-bind-address", "127.0.0.1:0", "")
	got, _ = DefaultAddr(free, "health-probe-bind-address", *freeAddr)
	assert.Equal(t, "127.0.0.1:0", got, "a free default is kept")
}
