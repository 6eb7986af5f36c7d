package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/testenv"
)

// TestIntegrationFreshMachineCommandLines runs the documented command lines
// exactly as written, on API servers that have the bindsync CRDs and nothing
// else (no bindsync-system namespace), from a home folder with nothing in
// it: `bindsync backend --kubeconfig FILE --repo URL` must commit and make a
// request Ready, and `bindsync agent --kubeconfig FILE --cluster NAME --repo
// URL` must then make the binding Ready. They run one after the other: both
// serve metrics and probes on the same default ports.
func TestIntegrationFreshMachineCommandLines(t *testing.T) {
	root, err := testenv.ModuleRoot()
	require.NoError(t, err)
	dir := t.TempDir()
	built := make(chan error, 1)
	var bin string
	go func() { var err error; bin, err = testenv.BuildBindsync(dir); built <- err }()
	cp, app := testenv.StartPair(t)
	require.NoError(t, <-built)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	for _, c := range []*testenv.Cluster{cp, app} {
		_, err := c.InstallCRDs(ctx, filepath.Join(root, "config", "crd"))
		require.NoError(t, err)
	}
	_, err = cp.InstallCRDs(ctx, filepath.Join(root, "testdata", "crds", "klutch", pgCRD+".yaml"))
	require.NoError(t, err)
	err = cp.Client.Get(ctx, client.ObjectKey{Name: "bindsync-system"}, &corev1.Namespace{})
	require.True(t, apierrors.IsNotFound(err), "a fresh control plane has no bindsync-system namespace: %v", err)

	// A fresh user: an empty home, no cache folder yet.
	home := filepath.Join(dir, "home")
	require.NoError(t, os.Mkdir(home, 0o700))
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("KUBECONFIG", "")

	j := &journey{t: t, ctx: ctx, cp: cp, app: app, bin: bin, dir: dir,
		remote: filepath.Join(dir, "state.git"), clusterNS: v1alpha1.ClusterNamespace(cluster),
		cpKubeconfig: cp.WriteKubeconfig(t)}
	run(t, "", "git", "init", "-q", "--bare", "-b", "main", j.remote)
	repoURL := "file://" + j.remote

	j.backend = startProcess(t, "backend", bin, "backend", "--kubeconfig", j.cpKubeconfig, "--repo", repoURL)
	j.create(cp, &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster}})
	j.create(cp, &v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: template},
		Spec: v1alpha1.APIServiceExportTemplateSpec{
			Resources: []v1alpha1.GroupResource{{Group: "anynines.com", Resource: "postgresqlinstances"}}}})
	j.eventually("the backend created namespace "+j.clusterNS, func() (bool, string) {
		err := cp.Client.Get(ctx, client.ObjectKey{Name: j.clusterNS}, &corev1.Namespace{})
		return err == nil, j.backend.tail(5)
	})
	j.create(cp, &v1alpha1.APIServiceExportRequest{ObjectMeta: metav1.ObjectMeta{Name: request, Namespace: j.clusterNS},
		Spec: v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: template}}})
	j.eventually("the request is Ready", func() (bool, string) {
		c := condition(j.request().Status.Conditions, v1alpha1.ReadyCondition)
		return c.Status == metav1.ConditionTrue, c.Reason + ": " + c.Message
	})
	assert.Equal(t, "bind: "+cluster+" <- "+template, j.subjects()[0], "the backend committed the bind on the bare repository's main")
	logs, err := os.ReadFile(j.backend.log)
	require.NoError(t, err)
	assert.Contains(t, string(logs), "leader election on: namespace bindsync-system did not exist and was created",
		"one log line says how the lease is handled")
	assert.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Name: "bindsync-system"}, &corev1.Namespace{}), "the lease namespace was created")
	assert.NotContains(t, string(logs), "stacktrace", "no stack traces for expected errors")
	assert.NotContains(t, string(logs), "goroutine ", "no stack traces for expected errors")
	cache, err := os.ReadDir(filepath.Join(home, ".cache", "bindsync"))
	require.NoError(t, err, "the clone lives in the user's cache folder")
	assert.Len(t, cache, 1, "one clone, named after the repository")
	j.backend.stop()

	j.create(app, &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: pgCRD}})
	j.agent = startProcess(t, "agent", bin, "agent", "--kubeconfig", app.WriteKubeconfig(t), "--cluster", cluster, "--repo", repoURL)
	j.waitInSync("the binding is Ready")
	logs, err = os.ReadFile(j.agent.log)
	require.NoError(t, err)
	assert.False(t, strings.Contains(string(logs), "goroutine "), "no stack traces in the agent's log")
}
