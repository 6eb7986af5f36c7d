package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// deletePolicyOverlay writes an overlay that adds the opt-in component
// config/agent/delete-policy, with one rule for the bound resource (none
// when resource is empty), as docs/operations.md tells an operator to.
func deletePolicyOverlay(t *testing.T, group, resource string) string {
	t.Helper()
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, repoPath(t, "config", "agent", "delete-policy"))
	require.NoError(t, err)
	k := fmt.Sprintf("components:\n- %s\n", rel)
	if resource != "" {
		k += fmt.Sprintf(`patches:
- target: {kind: ClusterRole, name: bindsync-agent-delete-policy}
  patch: |-
    - op: add
      path: /rules/-
      value: {apiGroups: [%s], resources: [%s], verbs: [list]}
`, group, resource)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600))
	return dir
}

// TestIntegrationAgentDeletePolicyRBAC runs the agent as its ServiceAccount
// with exactly the shipped ClusterRole (config/agent/rbac.yaml). A binding
// deleted with deletionPolicy Delete: without a grant to list the bound
// resource the CRD is kept and the binding names the missing permission;
// with config/agent/delete-policy filled for that resource (and nothing
// else) and no instance, the CRD is deleted.
func TestIntegrationAgentDeletePolicyRBAC(t *testing.T) {
	ctx, app := setupAgentTest(t)
	require.NoError(t, app.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: deployNamespace}}))
	shipped, err := testenv.ReadObjects(repoPath(t, "config", "agent", "rbac.yaml"))
	require.NoError(t, err)
	require.NoError(t, app.ApplyObjects(ctx, shipped))

	const cluster = "agent-delete-rbac"
	k := testKind{plural: "deletables", kind: "Deletable", group: "rbac.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	repo := newStateRepo(t)
	repo.commit(appFolder(cluster, []testKind{k}, nil))
	src, err := source.New(source.Options{URL: repo.url(), Dir: staterepo.AppDir(cluster)})
	require.NoError(t, err)
	cfg := app.ImpersonateConfig(testenv.ServiceAccountUser(deployNamespace, agentSA))
	as, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	require.NoError(t, err)
	ag, err := agent.New(cfg, as, src, agent.Options{Cluster: cluster})
	require.NoError(t, err)

	createBinding(ctx, t, app, k.name(), v1alpha1.DeletionDelete)
	_, err = ag.Sync(ctx)
	require.NoError(t, err, "the shipped ClusterRole is enough to apply")
	require.NoError(t, app.WaitEstablished(ctx, k.name()))
	require.NoError(t, app.Client.Delete(ctx, getBinding(ctx, t, app, k.name())))

	t.Run("without the grant: the CRD is kept and the binding names the missing permission", func(t *testing.T) {
		_, err := ag.Sync(ctx)
		require.NoError(t, err)
		_, err = getCRD(ctx, t, app, k.name())
		require.NoError(t, err, "kept: the agent cannot tell that no instance exists")
		b := getBinding(ctx, t, app, k.name())
		assert.Contains(t, b.Finalizers, v1alpha1.AgentFinalizer, "the binding waits")
		ready := condition(b, v1alpha1.ReadyCondition)
		require.NotNil(t, ready)
		assert.Equal(t, metav1.ConditionFalse, ready.Status)
		assert.Equal(t, v1alpha1.InstancesExistReason, ready.Reason)
		t.Logf("binding says: %s", ready.Message)
		for _, want := range []string{
			"may not list deletables in API group rbac.agent.bindsync.test",
			"{apiGroups: [rbac.agent.bindsync.test], resources: [deletables], verbs: [list]}",
			"config/agent/delete-policy",
			"keeps CustomResourceDefinition " + k.name(),
		} {
			assert.Contains(t, ready.Message, want)
		}
	})

	t.Run("the component as shipped grants nothing", func(t *testing.T) {
		objs := buildDeploy(t, deletePolicyOverlay(t, "", ""))
		assert.Equal(t, []string{"bindsync-agent-delete-policy"}, namesOf(objs, "ClusterRole"))
		assert.Equal(t, []string{"bindsync-agent-delete-policy"}, namesOf(objs, "ClusterRoleBinding"))
		for _, o := range objs {
			if o.GetKind() == "ClusterRole" {
				rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
				assert.Empty(t, rules)
			}
		}
	})

	overlay := buildDeploy(t, deletePolicyOverlay(t, k.group, k.plural))
	require.NoError(t, app.ApplyObjects(ctx, overlay))

	t.Run("the grant lists that resource and nothing else", func(t *testing.T) {
		meta, err := metadata.NewForConfig(cfg)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			_, err := meta.Resource(schema.GroupVersionResource{Group: k.group, Version: "v1", Resource: k.plural}).List(ctx, metav1.ListOptions{Limit: 1})
			return err == nil
		}, 10*time.Second, 100*time.Millisecond, "the bound resource")
		for _, r := range []string{"secrets", "configmaps"} {
			_, err = meta.Resource(corev1.SchemeGroupVersion.WithResource(r)).List(ctx, metav1.ListOptions{Limit: 1})
			requireForbidden(t, err, "list "+r)
		}
	})

	t.Run("with the grant and no instance: the CRD is deleted and the binding goes", func(t *testing.T) {
		require.Eventually(t, func() bool {
			_, err := ag.Sync(ctx)
			require.NoError(t, err)
			_, err = getCRD(ctx, t, app, k.name())
			return apierrors.IsNotFound(err)
		}, 20*time.Second, 200*time.Millisecond, "the CRD is deleted once the agent may list its instances")
		var b v1alpha1.APIServiceBinding
		err := app.Client.Get(ctx, clientKey(k.name()), &b)
		assert.True(t, apierrors.IsNotFound(err), "the finalizer is removed and the binding is gone: %v", err)
	})
}
