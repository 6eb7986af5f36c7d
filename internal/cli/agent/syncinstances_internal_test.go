package agent

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/bindsync/bindsync/internal/agent"
)

// TestSyncInstancesFlag: instance sync is on unless --sync-instances=false,
// and the flag reaches the agent's options.
func TestSyncInstancesFlag(t *testing.T) {
	cmd := NewCommand(io.Discard, io.Discard)
	fl := cmd.Flags().Lookup("sync-instances")
	require.NotNil(t, fl)
	assert.Equal(t, "true", fl.DefValue)

	for _, on := range []bool{true, false} {
		opts, _, err := sourceFor(&flags{cluster: "c", repo: "file:///nowhere", syncInstances: on})
		require.NoError(t, err)
		assert.Equal(t, on, opts.SyncInstances)
	}
	assert.Equal(t, "off (--sync-instances=false): CRDs only", instanceSync(agent.Options{}))
	assert.Contains(t, instanceSync(agent.Options{SyncInstances: true}), "no --control-plane-kubeconfig")
	assert.Equal(t, "on", instanceSync(agent.Options{SyncInstances: true, ControlPlane: &rest.Config{}}))
}
