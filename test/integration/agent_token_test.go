package integration

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/cli/cluster"
	"github.com/bindsync/bindsync/internal/cli/kube"
	"github.com/bindsync/bindsync/internal/manifest"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// TestIntegrationAgentPicksUpARotatedToken: the agent reports back with the
// kubeconfig `cluster add` writes (a TokenRequest token in the file). When
// that token stops working (here: the object it is bound to is deleted, as
// an expiry would), the pass still succeeds (reporting back is not the
// pass), and once the operator replaces the file with a kubeconfig holding
// a new token, the same running agent reports with it: no restart.
func TestIntegrationAgentPicksUpARotatedToken(t *testing.T) {
	cp, app := testenv.StartPair(t)
	ctx := testContext(t)
	for _, c := range []*testenv.Cluster{cp, app} {
		names := installBindsyncCRDs(ctx, t, c)
		require.NoError(t, c.WaitEstablished(ctx, names...))
	}
	const clusterName = "team-a"
	ns := v1alpha1.ClusterNamespacePrefix + clusterName
	require.NoError(t, cp.ApplyObjects(ctx, renderedControlPlane(t, clusterName)))

	in, problems, err := manifest.LoadDir(repoPath(t, "examples", "control-plane"))
	require.NoError(t, err)
	require.Empty(t, problems)
	files := map[string]string{}
	for p, data := range render.Render(in).Tree {
		files[p] = string(data)
	}
	repo := newStateRepo(t)
	rev1 := repo.commit(files)
	const bound = "postgresqlinstances.anynines.com"
	createBinding(ctx, t, app, bound, "")

	// token returns a token of the cluster's agent ServiceAccount that
	// works as long as the Secret anchor exists.
	cs, err := kubernetes.NewForConfig(cp.Config)
	require.NoError(t, err)
	token := func(anchor string) string {
		sec, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: anchor}}, metav1.CreateOptions{})
		require.NoError(t, err)
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, v1alpha1.AgentServiceAccount, &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{
				Kind: "Secret", APIVersion: "v1", Name: sec.Name, UID: sec.UID}}}, metav1.CreateOptions{})
		require.NoError(t, err)
		return tr.Status.Token
	}
	kubeconfig := filepath.Join(t.TempDir(), "cp.kubeconfig")
	writeKubeconfig := func(tok string) {
		kc, err := cluster.Kubeconfig(cp.Config, clusterName, tok)
		require.NoError(t, err)
		data, err := clientcmd.Write(*kc)
		require.NoError(t, err)
		// As a Secret volume or `cluster add -o` replaces it: a new file.
		tmp := kubeconfig + ".new"
		require.NoError(t, os.WriteFile(tmp, data, 0o600))
		require.NoError(t, os.Rename(tmp, kubeconfig))
	}
	writeKubeconfig(token("token-a"))

	cpCfg, err := kube.ReloadingConfig(kubeconfig) // what `bindsync agent --control-plane-kubeconfig` uses
	require.NoError(t, err)
	src, err := source.New(source.Options{URL: repo.url(), Dir: staterepo.AppDir(clusterName)})
	require.NoError(t, err)
	ag, err := agent.New(app.Config, app.Client, src, agent.Options{
		Cluster: clusterName, ControlPlane: cpCfg, Events: record.NewFakeRecorder(100), WaitEstablished: 30 * time.Second,
	})
	require.NoError(t, err)
	consumerRevision := func() string {
		var e v1alpha1.APIServiceExport
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: bound}, &e))
		return e.Status.ConsumerRevision
	}

	res, err := ag.Sync(ctx)
	require.NoError(t, err)
	require.NoError(t, res.ReportErr)
	require.Equal(t, rev1, consumerRevision(), "reported with the first token")

	// The first token stops working.
	require.NoError(t, cs.CoreV1().Secrets(ns).Delete(ctx, "token-a", metav1.DeleteOptions{}))
	old, err := kube.ReloadingConfig(kubeconfig)
	require.NoError(t, err)
	oldClient, err := client.New(old, client.Options{Scheme: testenv.Scheme()})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return apierrors.IsUnauthorized(oldClient.List(ctx, &v1alpha1.APIServiceExportList{}, client.InNamespace(ns)))
	}, 30*time.Second, 200*time.Millisecond, "the API server refuses the first token once its anchor is gone")

	files["clusters/"+clusterName+"/app/NOTES.md"] = "a second revision\n"
	rev2 := repo.commit(files)
	res, err = ag.Sync(ctx)
	require.NoError(t, err, "a failed report back does not fail the pass")
	require.Error(t, res.ReportErr, "the report with the dead token fails")
	assert.True(t, apierrors.IsUnauthorized(res.ReportErr), "%v", res.ReportErr)
	b := getBinding(ctx, t, app, bound)
	assert.Equal(t, metav1.ConditionTrue, condition(b, v1alpha1.ReadyCondition).Status)
	assert.Equal(t, rev2, b.Status.LastAppliedRevision, "the pass applied the new revision")
	assert.Equal(t, rev1, consumerRevision())

	// The operator replaces the file with a kubeconfig holding a new token.
	writeKubeconfig(token("token-b"))
	res, err = ag.Sync(ctx)
	require.NoError(t, err)
	require.NoError(t, res.ReportErr, "the new token is read from the replaced file")
	assert.Equal(t, rev2, consumerRevision(), "the same agent reported with the new token")
}
