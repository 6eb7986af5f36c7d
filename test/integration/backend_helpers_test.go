package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/testenv"
)

const backendPGCRD = "postgresqlinstances.anynines.com"

// backendEnv is one backend on its own control plane and a bare remote
// over file://, driven one reconcile at a time.
type backendEnv struct {
	t      *testing.T
	cp     *testenv.Cluster
	remote string // the bare repository's folder
	rc     *backend.Reconciler
}

// startBackendControlPlane starts a control plane of its own (the backend
// prunes what bindsync labelled, so it must not share one with other tests)
// with bindsync's CRDs and the Klutch PostgreSQL CRD.
func startBackendControlPlane(t *testing.T) *testenv.Cluster {
	cp := testenv.Start(t, "backend")
	root := moduleRoot(t)
	paths, err := filepath.Glob(filepath.Join(root, "config", "crd", "*.yaml"))
	require.NoError(t, err)
	paths = append(paths, filepath.Join(root, "testdata", "crds", "klutch", backendPGCRD+".yaml"))
	names, err := cp.InstallCRDs(context.Background(), paths...)
	require.NoError(t, err)
	require.NoError(t, cp.WaitEstablished(context.Background(), names...))
	return cp
}

func moduleRoot(t *testing.T) string {
	dir, err := os.Getwd()
	require.NoError(t, err)
	for ; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		require.NotEqual(t, "/", dir, "no go.mod above the test")
	}
}

func newBackendEnv(t *testing.T, cp *testenv.Cluster) *backendEnv {
	remote := filepath.Join(t.TempDir(), "state.git")
	runGit(t, "", "init", "-q", "--bare", "-b", "main", remote)
	return &backendEnv{t: t, cp: cp, remote: remote, rc: newReconciler(t, cp, remote)}
}

// newReconciler is a backend process: a fresh clone cache, nothing applied yet.
func newReconciler(t *testing.T, cp *testenv.Cluster, remote string) *backend.Reconciler {
	return newReconcilerWith(t, cp, git.Options{URL: "file://" + remote}, nil)
}

// newReconcilerWith is newReconciler with git options of the test's (Dir is
// filled in) and the repository wrapped by wrap (nil: not wrapped).
func newReconcilerWith(t *testing.T, cp *testenv.Cluster, o git.Options, wrap func(backend.Repo) backend.Repo) *backend.Reconciler {
	o.Dir = filepath.Join(t.TempDir(), "cache")
	repo, err := git.Open(context.Background(), o)
	require.NoError(t, err)
	applier, err := backend.ControlPlaneApplier(cp.Config)
	require.NoError(t, err)
	r := backend.GitRepo(repo)
	if wrap != nil {
		r = wrap(r)
	}
	rc, err := backend.New(backend.Options{Client: cp.Client, APIReader: cp.Client, Repo: r, Applier: applier})
	require.NoError(t, err)
	return rc
}

func (e *backendEnv) reconcile() {
	e.t.Helper()
	_, _ = e.rc.Reconcile(context.Background(), ctrl.Request{})
}

// head returns the remote's commit for branch ("" when it does not exist).
func (e *backendEnv) head(branch string) string {
	out, err := exec.Command("git", "--git-dir", e.remote, "rev-parse", "--verify", "-q", "refs/heads/"+branch).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// log returns "subject" lines of main's first-parent history, newest first.
func (e *backendEnv) subjects() []string {
	out := runGit(e.t, "", "--git-dir", e.remote, "log", "--first-parent", "--format=%s", "main")
	return strings.Split(strings.TrimSpace(out), "\n")
}

// trailers returns the trailers of a commit as git parses them.
func (e *backendEnv) trailers(rev string) string {
	return runGit(e.t, "", "--git-dir", e.remote, "log", "-1", "--format=%(trailers)", rev)
}

// clone checks the remote out for a human's git work.
func (e *backendEnv) clone() string {
	dir := filepath.Join(e.t.TempDir(), "work")
	runGit(e.t, "", "clone", "-q", e.remote, dir)
	runGit(e.t, dir, "config", "user.email", "operator@example.com")
	runGit(e.t, dir, "config", "user.name", "Operator")
	return dir
}

func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_DATE=2026-01-01T00:00:00Z")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %s: %s", strings.Join(args, " "), out)
	return string(out)
}

// world creates an AppCluster and a template, and reconciles once so the
// backend creates the cluster's namespace, as it does for a new cluster.
// Everything is deleted when the test ends, so tests sharing the control
// plane do not see each other's objects.
func (e *backendEnv) world(cluster, template string, approval v1alpha1.ApprovalPolicy) {
	ctx := context.Background()
	e.create(&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster}})
	tpl := &v1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: template},
		Spec: v1alpha1.APIServiceExportTemplateSpec{Approval: approval,
			Resources: []v1alpha1.GroupResource{{Group: "anynines.com", Resource: "postgresqlinstances"}}},
	}
	if err := e.cp.Client.Get(ctx, client.ObjectKeyFromObject(tpl), &v1alpha1.APIServiceExportTemplate{}); err != nil {
		e.create(tpl)
	}
	e.reconcile()
	require.NoError(e.t, e.cp.Client.Get(ctx, client.ObjectKey{Name: v1alpha1.ClusterNamespace(cluster)}, &corev1.Namespace{}),
		"the backend creates the cluster's namespace")
}

func (e *backendEnv) create(obj client.Object) {
	require.NoError(e.t, e.cp.Client.Create(context.Background(), obj))
	e.t.Cleanup(func() { _ = client.IgnoreNotFound(e.cp.Client.Delete(context.Background(), obj)) })
}

func (e *backendEnv) request(cluster, name, template string) {
	e.create(&v1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v1alpha1.ClusterNamespace(cluster)},
		Spec:       v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: template}},
	})
}

func (e *backendEnv) getRequest(cluster, name string) *v1alpha1.APIServiceExportRequest {
	var q v1alpha1.APIServiceExportRequest
	require.NoError(e.t, e.cp.Client.Get(context.Background(), client.ObjectKey{Namespace: v1alpha1.ClusterNamespace(cluster), Name: name}, &q))
	return &q
}

func requestCondition(q *v1alpha1.APIServiceExportRequest, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(q.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// exists reports whether obj (by key) is on the control plane.
func (e *backendEnv) exists(obj client.Object, namespace, name string) bool {
	err := e.cp.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: name}, obj)
	if err != nil {
		require.True(e.t, client.IgnoreNotFound(err) == nil, "get %s/%s: %v", namespace, name, err)
		return false
	}
	return true
}
