package integration

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/cli/status"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// escalation is what a commit to main can put into a cluster's
// control-plane folder: a Role granting everything in kube-system and a
// RoleBinding of it to the cluster's agent, with a kustomization that
// drops the cluster's real objects (so applying it verbatim would also
// prune them).
const escalation = `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: bindsync-agent
  namespace: kube-system
rules:
- apiGroups: ["*"]
  resources: ["*"]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: bindsync-agent
  namespace: kube-system
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: bindsync-agent
subjects:
- kind: ServiceAccount
  name: bindsync-agent
  namespace: bindsync-trust-a
`

const escalationKustomization = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
labels:
- pairs:
    bindsync.io/cluster: trust-a
    bindsync.io/managed: "true"
resources:
- escalation.yaml
`

// TestIntegrationHeldBackClusterAppliesOnlyWhatRenderCouldWrite: a held-back
// cluster keeps main's files, and main is whatever was merged. A commit
// that puts a Role and RoleBinding for kube-system into the folder of a
// held-back cluster is refused: nothing of that folder is applied or
// pruned, the cluster's requests say ApplyRefused naming the objects, the
// agent still cannot read kube-system's Secrets, and another cluster is
// applied as usual.
func TestIntegrationHeldBackClusterAppliesOnlyWhatRenderCouldWrite(t *testing.T) {
	cp := startBackendControlPlane(t)
	e := newBackendEnv(t, cp)
	ctx := testContext(t)
	e.world("trust-a", "pg-trust-a", v1alpha1.ApprovalAutomatic)
	e.world("trust-b", "pg-trust-b", v1alpha1.ApprovalAutomatic)
	e.request("trust-a", "pg", "pg-trust-a")
	e.request("trust-b", "pg", "pg-trust-b")
	e.reconcile()
	require.Equal(t, metav1.ConditionTrue, requestCondition(e.getRequest("trust-a", "pg"), v1alpha1.ReadyCondition).Status)
	nsA := v1alpha1.ClusterNamespace("trust-a")
	require.True(t, e.exists(&rbacv1.Role{}, nsA, v1alpha1.AgentServiceAccount))

	// Hold trust-a's whole folder back: its template names a resource with
	// no CRD, and its AppCluster is gone while that request is bad, so main
	// keeps trust-a's folder as it is (holds are per object; only a
	// cluster with nothing to render from keeps its whole folder). Then
	// merge the escalation into that folder.
	editTemplate(t, cp.Client, "pg-trust-a", func(s *v1alpha1.APIServiceExportTemplateSpec) {
		s.Resources = append(s.Resources, v1alpha1.GroupResource{Group: "example.com", Resource: "nothings"})
	})
	require.NoError(t, cp.Client.Delete(ctx, &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "trust-a"}}))
	e.reconcile()
	work := e.clone()
	dir := filepath.Join(work, staterepo.ControlPlaneDir("trust-a"))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "escalation.yaml"), []byte(escalation), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, staterepo.KustomizationFile), []byte(escalationKustomization), 0o600))
	runGit(t, work, "add", "-A")
	runGit(t, work, "commit", "-q", "-m", "innocent-looking change")
	runGit(t, work, "push", "-q", "origin", "main")
	attack := e.head("main")
	// Something else happens meanwhile: a new cluster binds.
	e.world("trust-c", "pg-trust-b", v1alpha1.ApprovalAutomatic)
	e.request("trust-c", "pg", "pg-trust-b")

	e.reconcile()
	e.reconcile()
	files := runGit(t, "", "--git-dir", e.remote, "ls-tree", "-r", "--name-only", "main")
	require.Contains(t, files, staterepo.ControlPlaneDir("trust-a")+"/escalation.yaml",
		"trust-a is held back, so main keeps its files as merged (%v since %s)", e.subjects(), attack)

	for _, o := range []client.Object{&rbacv1.Role{}, &rbacv1.RoleBinding{}} {
		err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: v1alpha1.AgentServiceAccount}, o)
		assert.True(t, apierrors.IsNotFound(err), "%T bindsync-agent in kube-system was applied: %v", o, err)
	}
	assert.True(t, e.exists(&rbacv1.Role{}, nsA, v1alpha1.AgentServiceAccount), "trust-a's Role is not pruned")
	assert.True(t, e.exists(&rbacv1.RoleBinding{}, nsA, v1alpha1.AgentServiceAccount), "trust-a's RoleBinding is not pruned")
	assert.True(t, e.exists(&v1alpha1.APIServiceExport{}, nsA, backendPGCRD), "trust-a's export is not pruned")

	ready := requestCondition(e.getRequest("trust-a", "pg"), v1alpha1.ReadyCondition)
	assert.Equal(t, metav1.ConditionFalse, ready.Status)
	assert.Equal(t, v1alpha1.ApplyRefusedReason, ready.Reason, ready.Message)
	assert.Contains(t, ready.Message, staterepo.ControlPlaneDir("trust-a")+`/escalation.yaml: Role.rbac.authorization.k8s.io kube-system/bindsync-agent: namespace "kube-system"`)
	assert.Contains(t, ready.Message, "RoleBinding.rbac.authorization.k8s.io kube-system/bindsync-agent")
	assert.Contains(t, ready.Message, staterepo.ControlPlaneDir("trust-a"))

	other := requestCondition(e.getRequest("trust-c", "pg"), v1alpha1.ReadyCondition)
	assert.Equal(t, metav1.ConditionTrue, other.Status, "another cluster is applied as usual: %s", other.Message)

	agent, err := cp.Impersonate(nsA, v1alpha1.AgentServiceAccount)
	require.NoError(t, err)
	err = agent.List(ctx, &corev1.SecretList{}, client.InNamespace("kube-system"))
	requireForbidden(t, err, "trust-a's agent lists kube-system's Secrets")
}

// TestIntegrationAPreCreatedNamespaceIsAdoptedAndAForeignObjectStaysLocal:
// a cluster whose namespace someone created before it was onboarded gets
// it adopted; a cluster with a foreign object in its folder's way fails
// alone, saying what to do, and the other clusters' requests are Ready.
func TestIntegrationAPreCreatedNamespaceIsAdoptedAndAForeignObjectStaysLocal(t *testing.T) {
	cp := startBackendControlPlane(t)
	e := newBackendEnv(t, cp)
	ctx := testContext(t)
	e.world("local-a", "pg-local", v1alpha1.ApprovalAutomatic)
	e.request("local-a", "pg", "pg-local")
	e.reconcile()
	require.Equal(t, metav1.ConditionTrue, requestCondition(e.getRequest("local-a", "pg"), v1alpha1.ReadyCondition).Status)

	// local-b: its namespace exists, without bindsync's labels.
	nsB := v1alpha1.ClusterNamespace("local-b")
	e.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsB, Labels: map[string]string{"team": "b"}}})
	// local-c: a ServiceAccount bindsync-agent exists in its namespace, not bindsync's.
	nsC := v1alpha1.ClusterNamespace("local-c")
	e.create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsC}})
	e.create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: nsC, Name: v1alpha1.AgentServiceAccount}})
	for _, c := range []string{"local-b", "local-c"} {
		e.create(&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: c}})
		e.request(c, "pg", "pg-local")
	}
	e.world("local-d", "pg-local", v1alpha1.ApprovalAutomatic)
	e.request("local-d", "pg", "pg-local")

	e.reconcile()

	var ns corev1.Namespace
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Name: nsB}, &ns))
	assert.Equal(t, "true", ns.Labels[v1alpha1.ManagedLabel], "the namespace is adopted")
	assert.Equal(t, "b", ns.Labels["team"], "its own labels are kept")
	for _, q := range []struct{ cluster, name string }{{"local-a", "pg"}, {"local-d", "pg"}, {"local-b", "pg"}} {
		ready := requestCondition(e.getRequest(q.cluster, q.name), v1alpha1.ReadyCondition)
		assert.Equal(t, metav1.ConditionTrue, ready.Status, "%s/%s: %s", q.cluster, q.name, ready.Message)
	}
	failed := requestCondition(e.getRequest("local-c", "pg"), v1alpha1.ReadyCondition)
	assert.Equal(t, metav1.ConditionFalse, failed.Status)
	assert.Equal(t, v1alpha1.ApplyFailedReason, failed.Reason)
	assert.Contains(t, failed.Message, "ServiceAccount "+nsC+"/bindsync-agent")
	assert.Contains(t, failed.Message, "bindsync.io/managed=true", "the message says how to hand the object over")
	assert.NotContains(t, failed.Message, "local-a")

	// bindsync status lists local-c's request with its reason (it has no
	// export to show), and --check fails on it.
	var out, errOut bytes.Buffer
	cmd := status.NewCommand(&out, &errOut)
	cmd.SetArgs([]string{"--kubeconfig", cp.WriteKubeconfig(t), "--cluster", "local-c", "--check"})
	cmd.SetOut(&errOut)
	cmd.SetErr(&errOut)
	assert.Error(t, cmd.ExecuteContext(ctx), "--check fails while a request is not Ready")
	assert.Regexp(t, `local-c\s+request/pg\s+pg-local\s+-\s+-\s+RequestNotReady\s+\S+\s+ApplyFailed`, out.String())
}
