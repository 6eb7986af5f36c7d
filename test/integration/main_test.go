// Package integration holds bindsync's integration tests: they run on real
// kube-apiservers started by internal/testenv, one control plane and one app
// cluster shared by the whole package, and read the committed example state
// repository (examples/state-repo). Every test name starts with
// TestIntegration, so `make integration` selects them.
package integration

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/bindsync/bindsync/internal/testenv"
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // defines -update for go test ./... -update
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// repoPath returns a path inside the bindsync checkout.
func repoPath(t *testing.T, elem ...string) string {
	t.Helper()
	root, err := testenv.ModuleRoot()
	require.NoError(t, err)
	return filepath.Join(append([]string{root}, elem...)...)
}

// testContext bounds a test's calls to the API servers.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// installBindsyncCRDs installs config/crd and returns the CRD names.
func installBindsyncCRDs(ctx context.Context, t *testing.T, c *testenv.Cluster) []string {
	t.Helper()
	names, err := c.InstallCRDs(ctx, repoPath(t, "config", "crd"))
	require.NoError(t, err)
	return names
}

// stateRepoFolders returns clusters/<cluster>/<part> of the example state
// repository by cluster name. A missing or empty example fails the test:
// it is committed and kept in sync with the renderer.
func stateRepoFolders(t *testing.T, part string) map[string]string {
	t.Helper()
	root := repoPath(t, "examples", "state-repo")
	require.DirExists(t, root, "the example state repository is committed: bindsync render --in examples/control-plane --out examples/state-repo")
	matches, err := filepath.Glob(filepath.Join(root, "clusters", "*", part))
	require.NoError(t, err)
	require.NotEmpty(t, matches, "no clusters/*/%s folders in %s", part, root)
	out := map[string]string{}
	for _, m := range matches {
		out[filepath.Base(filepath.Dir(m))] = m
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// requireForbidden asserts that the API server answered 403 Forbidden.
func requireForbidden(t *testing.T, err error, what string) {
	t.Helper()
	require.Error(t, err, "%s was allowed", what)
	require.Truef(t, apierrors.IsForbidden(err), "%s: want Forbidden, got %v", what, err)
}
