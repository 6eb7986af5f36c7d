package backend

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	_ "github.com/bindsync/bindsync/internal/testutil/golden" // defines -update for go test ./... -update
)

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: cp
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: admin
  user: {token: t}
contexts:
- name: cp
  context: {cluster: cp, user: admin}
current-context: cp
`

// client-go's default of 5 requests per second would take over half an
// hour to write the status of 10,000 requests (docs/scale.md): a kubeconfig
// that sets no limit gets none on the client, whichever way it is found.
func TestAKubeconfigWithoutRateLimitGetsNoClientSideLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  bool
	}{
		{name: "--kubeconfig"},
		{name: "$KUBECONFIG", env: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kubeconfig")
			require.NoError(t, os.WriteFile(path, []byte(kubeconfig), 0o600))
			flag := path
			if tc.env {
				t.Setenv("KUBECONFIG", path)
				flag = ""
			}
			cfg, err := restConfig(flag)
			require.NoError(t, err)
			assert.Equal(t, float32(-1), cfg.QPS, "negative QPS: no client-side rate limit")
			assert.Nil(t, cfg.RateLimiter)
		})
	}
}
