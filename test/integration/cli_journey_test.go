package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
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
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	agentcmd "github.com/bindsync/bindsync/internal/cli/agent"
	"github.com/bindsync/bindsync/internal/cli/app"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	logcmd "github.com/bindsync/bindsync/internal/cli/log"
	"github.com/bindsync/bindsync/internal/cli/status"
	"github.com/bindsync/bindsync/internal/testenv"
)

// cliResult is one run of the bindsync program.
type cliResult struct {
	code           int
	stdout, stderr string
}

// bindsyncCLI runs bindsync with args in-process, as the binary would.
func bindsyncCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code := app.RunAs("bindsync", args, &out, &errOut)
	t.Logf("bindsync %s -> %d\nstderr:\n%s", strings.Join(args, " "), code, errOut.String())
	return cliResult{code: code, stdout: out.String(), stderr: errOut.String()}
}

// agentCommand runs `bindsync agent` for cluster until the test ends.
func agentCommand(t *testing.T, appKubeconfig, cpKubeconfig, cluster, repoURL string) *syncBuffer {
	logs := &syncBuffer{}
	cmd := agentcmd.NewCommand(io.Discard, logs)
	cmd.SetArgs([]string{"--kubeconfig", appKubeconfig, "--control-plane-kubeconfig", cpKubeconfig, "--cluster", cluster,
		"--repo", repoURL, "--interval", "2s", "--metrics-bind-address", "0", "--health-probe-bind-address", "0"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("bindsync agent did not stop")
		}
	})
	return logs
}

// cliJourney is a control plane running `bindsync backend` on a local bare
// repository, and an app cluster.
type cliJourney struct {
	cp, app        *testenv.Cluster
	cpKC, appKC    string
	dataDir        string
	backendLogs    *syncBuffer
	clusterKC      map[string]string
	pgTemplate     string
	manualTemplate string
}

func startCLIJourney(t *testing.T) *cliJourney {
	cp := startBackendControlPlane(t)
	app := testenv.Start(t, testenv.AppName)
	ctx := testContext(t)
	names := installBindsyncCRDs(ctx, t, app)
	require.NoError(t, app.WaitEstablished(ctx, names...))
	j := &cliJourney{cp: cp, app: app, cpKC: cp.WriteKubeconfig(t), appKC: app.WriteKubeconfig(t),
		dataDir: filepath.Join(t.TempDir(), "data"), clusterKC: map[string]string{}, pgTemplate: "pg", manualTemplate: "pg-manual"}
	j.backendLogs = backendCommand(t, cp, j.dataDir)
	for name, approval := range map[string]v1alpha1.ApprovalPolicy{j.pgTemplate: v1alpha1.ApprovalAutomatic, j.manualTemplate: v1alpha1.ApprovalManual} {
		require.NoError(t, cp.Client.Create(ctx, &v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.APIServiceExportTemplateSpec{Approval: approval,
				Resources: []v1alpha1.GroupResource{{Group: "anynines.com", Resource: "postgresqlinstances"}}}}))
	}
	return j
}

// addCluster runs `cluster add` and returns the kubeconfig it wrote.
func (j *cliJourney) addCluster(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".kubeconfig")
	r := bindsyncCLI(t, "cluster", "add", name, "--kubeconfig", j.cpKC, "-o", path, "--timeout", "60s")
	require.Equal(t, 0, r.code, "cluster add %s: %s\nbackend logs:\n%s", name, r.stderr, j.backendLogs)
	j.clusterKC[name] = path
	return path
}

func (j *cliJourney) bind(t *testing.T, cluster, template string, extra ...string) cliResult {
	t.Helper()
	return bindsyncCLI(t, append([]string{"bind", template, "--kubeconfig", j.appKC,
		"--control-plane-kubeconfig", j.clusterKC[cluster]}, extra...)...)
}

func (j *cliJourney) branchExists(t *testing.T, branch string) bool {
	t.Helper()
	out := runGit(t, "", "--git-dir", j.dataDir, "branch", "--list", branch)
	return strings.TrimSpace(out) != ""
}

// TestIntegrationCLIJourney walks the journey through bindsync's commands
// against real API servers, `bindsync backend` and `bindsync agent`: cluster
// add (a TokenRequest kubeconfig that reads its own exports and nothing
// else), bind (Ready, and each failure with its exit code), approve, log,
// status and unbind.
func TestIntegrationCLIJourney(t *testing.T) {
	j := startCLIJourney(t)
	ctx := testContext(t)
	const crd = backendPGCRD

	teamA := j.addCluster(t, "team-a")
	j.addCluster(t, "team-b")
	j.addCluster(t, "team-c")

	t.Run("cluster add writes a private TokenRequest kubeconfig for the cluster's namespace", func(t *testing.T) {
		info, err := os.Stat(teamA)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
		kc, err := clientcmd.LoadFromFile(teamA)
		require.NoError(t, err)
		ctxName := kc.CurrentContext
		require.Contains(t, kc.Contexts, ctxName)
		assert.Equal(t, "bindsync-team-a", kc.Contexts[ctxName].Namespace)
		assert.NotEmpty(t, kc.AuthInfos[kc.Contexts[ctxName].AuthInfo].Token)
		assert.Equal(t, strings.TrimSuffix(j.cp.Config.Host, "/"), kc.Clusters[kc.Contexts[ctxName].Cluster].Server)

		var secrets corev1.SecretList
		require.NoError(t, j.cp.Client.List(ctx, &secrets, client.InNamespace("bindsync-team-a")))
		for _, s := range secrets.Items {
			assert.NotEqual(t, corev1.SecretTypeServiceAccountToken, s.Type, "no legacy token Secret: %s", s.Name)
		}

		cfg, err := clientcmd.BuildConfigFromFlags("", teamA)
		require.NoError(t, err)
		c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			return c.List(ctx, &v1alpha1.APIServiceExportList{}, client.InNamespace("bindsync-team-a")) == nil
		}, 30*time.Second, 250*time.Millisecond, "the token reads its own exports once the backend applied its Role")
		requireForbidden(t, c.List(ctx, &v1alpha1.APIServiceExportList{}, client.InNamespace("bindsync-team-b")), "team-a listing team-b's exports")
		requireForbidden(t, c.List(ctx, &corev1.SecretList{}, client.InNamespace("bindsync-team-a")), "team-a listing Secrets")
	})

	t.Run("cluster add without a backend times out naming it", func(t *testing.T) {
		r := bindsyncCLI(t, "cluster", "add", "no-backend", "--kubeconfig", j.app.WriteKubeconfig(t), "--timeout", "2s")
		assert.Equal(t, exitcode.Timeout, r.code)
		assert.Contains(t, r.stderr, "is `bindsync backend` running")
		assert.Empty(t, r.stdout)
	})

	t.Run("bind of an unknown template exits TemplateNotFound and leaves no request", func(t *testing.T) {
		r := j.bind(t, "team-a", "no-such-template", "--timeout", "60s")
		assert.Equal(t, exitcode.TemplateNotFound, r.code)
		assert.Contains(t, r.stderr, "TemplateNotFound")
		err := j.cp.Client.Get(ctx, client.ObjectKey{Namespace: "bindsync-team-a", Name: "no-such-template"}, &v1alpha1.APIServiceExportRequest{})
		assert.True(t, apierrors.IsNotFound(err), "the useless request is deleted: %v", err)
	})

	t.Run("bind without an agent exits AgentNotRunning", func(t *testing.T) {
		r := j.bind(t, "team-a", j.pgTemplate, "--timeout", "15s")
		assert.Equal(t, exitcode.AgentNotRunning, r.code)
		assert.Contains(t, r.stderr, "is `bindsync agent` running")
		assert.Contains(t, r.stderr, "approved: main@sha1:")
	})

	agentLogs := agentCommand(t, j.appKC, teamA, "team-a", "file://"+j.dataDir)

	t.Run("bind is Ready once the agent applied the CRD", func(t *testing.T) {
		r := j.bind(t, "team-a", j.pgTemplate, "--timeout", "90s")
		require.Equal(t, 0, r.code, "agent logs:\n%s", agentLogs)
		assert.Equal(t, crd+"\n", r.stdout)
		assert.Contains(t, r.stderr, "rendered: "+crd)
		assert.Contains(t, r.stderr, "ready: APIServiceBinding "+crd)
		_, err := getCRD(ctx, t, j.app, crd)
		assert.NoError(t, err, "the CRD is in the app cluster")
	})

	t.Run("status shows team-a in sync once its agent reported", func(t *testing.T) {
		var rows []status.Row
		require.Eventually(t, func() bool {
			r := bindsyncCLI(t, "status", "--kubeconfig", j.cpKC, "--cluster", "team-a", "-o", "json", "--check")
			rows = nil
			return json.Unmarshal([]byte(r.stdout), &rows) == nil && r.code == 0 && len(rows) == 1
		}, 60*time.Second, time.Second, "agent logs:\n%s", agentLogs)
		row := rows[0]
		assert.Equal(t, status.StateInSync, row.State)
		assert.Equal(t, crd, row.Export)
		assert.Equal(t, j.pgTemplate, row.Template)
		assert.Len(t, row.MainSchema, 64)
		assert.True(t, strings.HasPrefix(row.MainSchema, row.AgentSchema))
		assert.NotNil(t, row.Since)
		assert.Contains(t, row.AgentRevision, "main@sha1:")
	})

	t.Run("bind of a Manual template not approved in time exits ApprovalTimedOut naming the branch", func(t *testing.T) {
		r := j.bind(t, "team-b", j.manualTemplate, "--timeout", "10s")
		assert.Equal(t, exitcode.ApprovalTimedOut, r.code)
		assert.Contains(t, r.stderr, "pending approval: merge branch bindsync/approve/team-b/pg-manual into main")
	})

	t.Run("approve refuses a branch that is not bindsync's", func(t *testing.T) {
		runGit(t, "", "--git-dir", j.dataDir, "branch", "feature/x", "main")
		r := bindsyncCLI(t, "approve", "feature/x", "--repo", j.dataDir, "--approver", "Ada <ada@example.com>")
		assert.Equal(t, exitcode.Unusable, r.code)
		assert.Contains(t, r.stderr, "refusing to merge")
	})

	t.Run("approve merges the pending branch and the backend rolls it out", func(t *testing.T) {
		const branch = "bindsync/approve/team-b/pg-manual"
		require.True(t, j.branchExists(t, branch))
		before := strings.TrimSpace(runGit(t, "", "--git-dir", j.dataDir, "rev-parse", "main"))
		branchHead := strings.TrimSpace(runGit(t, "", "--git-dir", j.dataDir, "rev-parse", branch))
		r := bindsyncCLI(t, "approve", branch, "--repo", j.dataDir, "--approver", "Ada <ada@example.com>")
		require.Equal(t, 0, r.code)
		parents := strings.Fields(runGit(t, "", "--git-dir", j.dataDir, "log", "-1", "--format=%P", "main"))
		assert.Equal(t, []string{before, branchHead}, parents, "a merge of main's head and the branch")
		assert.Equal(t, strings.TrimSpace(runGit(t, "", "--git-dir", j.dataDir, "rev-parse", branchHead+"^{tree}")),
			strings.TrimSpace(runGit(t, "", "--git-dir", j.dataDir, "rev-parse", "main^{tree}")), "the branch's tree")
		assert.Contains(t, runGit(t, "", "--git-dir", j.dataDir, "log", "-1", "--format=%(trailers)", "main"),
			"Bindsync-Approved-By: Ada <ada@example.com>")
		assert.Contains(t, r.stderr, "A clusters/team-b/control-plane/exports/"+crd+".yaml", "approve shows what it merges")
		require.Eventually(t, func() bool {
			q := &v1alpha1.APIServiceExportRequest{}
			if err := j.cp.Client.Get(ctx, client.ObjectKey{Namespace: "bindsync-team-b", Name: j.manualTemplate}, q); err != nil {
				return false
			}
			return requestCondition(q, v1alpha1.ReadyCondition).Status == metav1.ConditionTrue
		}, 60*time.Second, 250*time.Millisecond, "the approved request is Ready; backend logs:\n%s", j.backendLogs)
		assert.True(t, j.exists(t, "bindsync-team-b", crd), "the export is on the control plane")
	})

	t.Run("bind is rejected when its approval branch is deleted", func(t *testing.T) {
		done := make(chan cliResult, 1)
		go func() { done <- j.bind(t, "team-c", j.manualTemplate, "--name", "pg-again", "--timeout", "90s") }()
		const branch = "bindsync/approve/team-c/pg-again"
		require.Eventually(t, func() bool { return j.branchExists(t, branch) }, 60*time.Second, 250*time.Millisecond)
		runGit(t, "", "--git-dir", j.dataDir, "branch", "-D", branch)
		r := <-done
		assert.Equal(t, exitcode.Rejected, r.code)
		assert.Contains(t, r.stderr, "was rejected")
	})

	t.Run("log shows who got which API, approved how, from the trailers", func(t *testing.T) {
		r := bindsyncCLI(t, "log", "--repo", j.dataDir, "-o", "json")
		require.Equal(t, 0, r.code)
		var entries []logcmd.Entry
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &entries), r.stdout)
		require.NotEmpty(t, entries)
		byCluster := map[string]logcmd.Entry{}
		for _, e := range entries {
			if e.Cause == "bind" {
				byCluster[e.Clusters[0]] = e
			}
		}
		require.Contains(t, byCluster, "team-a")
		require.Contains(t, byCluster, "team-b")
		a, b := byCluster["team-a"], byCluster["team-b"]
		assert.Equal(t, logcmd.ApprovalAutomatic, a.Approval)
		assert.Equal(t, []string{j.pgTemplate}, a.Templates)
		assert.Equal(t, "bindsync-team-a/pg", a.Request)
		require.Len(t, a.Schemas, 1)
		assert.True(t, strings.HasPrefix(a.Schemas[0], crd+"="))
		assert.Equal(t, logcmd.ApprovalMerged, b.Approval)
		assert.Equal(t, "Ada <ada@example.com>", b.ApprovedBy)
		assert.Equal(t, []string{j.manualTemplate}, b.Templates)
		assert.Equal(t, entries[0].Commit, strings.TrimSpace(runGit(t, "", "--git-dir", j.dataDir, "rev-parse", "main")), "newest first")

		r = bindsyncCLI(t, "log", "--repo", "file://"+j.dataDir, "--cluster", "team-b", "-o", "json")
		require.Equal(t, 0, r.code)
		entries = nil
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &entries))
		require.NotEmpty(t, entries)
		for _, e := range entries {
			assert.Contains(t, e.Clusters, "team-b", e.Subject)
		}
	})

	t.Run("unbind deletes the binding after the agent carried out its policy, then the request", func(t *testing.T) {
		r := bindsyncCLI(t, "unbind", j.pgTemplate, "--kubeconfig", j.appKC, "--control-plane-kubeconfig", teamA, "--timeout", "60s")
		require.Equal(t, 0, r.code, "agent logs:\n%s", agentLogs)
		assert.Contains(t, r.stderr, "deletionPolicy Orphan: CRD "+crd+" and its objects stay")
		assert.Equal(t, crd+"\n", r.stdout)
		err := j.app.Client.Get(ctx, client.ObjectKey{Name: crd}, &v1alpha1.APIServiceBinding{})
		assert.True(t, apierrors.IsNotFound(err), "binding gone: %v", err)
		err = j.cp.Client.Get(ctx, client.ObjectKey{Namespace: "bindsync-team-a", Name: j.pgTemplate}, &v1alpha1.APIServiceExportRequest{})
		assert.True(t, apierrors.IsNotFound(err), "request gone: %v", err)
		_, err = getCRD(ctx, t, j.app, crd)
		assert.NoError(t, err, "Orphan keeps the CRD")
	})
}

func (j *cliJourney) exists(t *testing.T, namespace, name string) bool {
	t.Helper()
	err := j.cp.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, &v1alpha1.APIServiceExport{})
	return err == nil
}
