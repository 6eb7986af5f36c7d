package integration

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

func (e *backendEnv) appNamespace(cluster, name string) *v1alpha1.APIServiceNamespace {
	n := &v1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: v1alpha1.ClusterNamespace(cluster)}}
	e.create(n)
	return n
}

func (e *backendEnv) getAppNamespace(cluster, name string) *v1alpha1.APIServiceNamespace {
	var n v1alpha1.APIServiceNamespace
	require.NoError(e.t, e.cp.Client.Get(context.Background(), client.ObjectKey{Namespace: v1alpha1.ClusterNamespace(cluster), Name: name}, &n))
	return &n
}

// changedFiles lists the files a commit changed against its first parent.
func (e *backendEnv) changedFiles(rev string) []string {
	out := runGit(e.t, "", "--git-dir", e.remote, "diff-tree", "--no-commit-id", "-r", "--name-only", rev+"^", rev)
	return strings.Fields(out)
}

// TestIntegrationInstanceNamespaces: an APIServiceNamespace becomes a
// "namespace: C/N" commit, a Namespace and the agent's RoleBinding on the
// control plane and its status; removing it takes its file and RoleBinding
// away, and the Namespace once it holds no synced copy. The agent's
// ServiceAccount reaches its own instance namespaces and nothing else.
func TestIntegrationInstanceNamespaces(t *testing.T) {
	cp := startBackendControlPlane(t)
	ctx := context.Background()

	t.Run("an APIServiceNamespace is a namespace commit, applied, with status; removed, its namespace goes once empty", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		e.world("nsflow", "pg-auto", v1alpha1.ApprovalAutomatic)
		e.request("nsflow", "pg", "pg-auto")
		e.reconcile()
		bound := e.head("main")

		e.appNamespace("nsflow", "shop")
		e.reconcile()
		head := e.head("main")
		require.NotEqual(t, bound, head)
		assert.Equal(t, []string{"namespace: nsflow/shop", "bind: nsflow <- pg-auto"}, e.subjects()[:2])
		assert.ElementsMatch(t, []string{staterepo.NamespacePath("nsflow", "shop"), staterepo.NamespacesDir("nsflow") + "/kustomization.yaml"},
			e.changedFiles(head), "the commit holds exactly the namespace's files")
		tr := e.trailers(head)
		for _, want := range []string{"Bindsync-Cluster: nsflow", "Bindsync-Namespace: shop", "Bindsync-Cause: namespace"} {
			assert.Contains(t, tr, want)
		}

		inst := render.InstanceNamespace("nsflow", "shop")
		var ns corev1.Namespace
		require.True(t, e.exists(&ns, "", inst), "the instance namespace exists")
		delete(ns.Labels, corev1.LabelMetadataName) // the API server's own
		assert.Equal(t, map[string]string{v1alpha1.ManagedLabel: "true", v1alpha1.ClusterLabel: "nsflow",
			v1alpha1.ConsumerNamespaceLabel: "shop", "pod-security.kubernetes.io/enforce": "restricted"}, ns.Labels)
		var rb rbacv1.RoleBinding
		require.True(t, e.exists(&rb, inst, "bindsync-agent"), "the agent's RoleBinding exists there")
		assert.Equal(t, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "bindsync-agent"}, rb.RoleRef)
		var role rbacv1.Role
		require.True(t, e.exists(&role, inst, "bindsync-agent"), "the agent's Role exists there")
		assert.Contains(t, role.Rules, rbacv1.PolicyRule{APIGroups: []string{"anynines.com"}, Resources: []string{"postgresqlinstances"},
			Verbs: []string{"create", "delete", "get", "list", "patch", "update", "watch"}}, "it grants the bound resource")
		var crs rbacv1.ClusterRoleList
		require.NoError(t, cp.Client.List(ctx, &crs, client.MatchingLabels{v1alpha1.ClusterLabel: "nsflow"}))
		assert.Empty(t, crs.Items, "no ClusterRole for a cluster that binds only namespaced resources")

		n := e.getAppNamespace("nsflow", "shop")
		assert.Equal(t, inst, n.Status.Namespace)
		assert.Equal(t, "main@sha1:"+head, n.Status.Revision)
		ready := meta.FindStatusCondition(n.Status.Conditions, v1alpha1.ReadyCondition)
		require.NotNil(t, ready)
		assert.Equal(t, metav1.ConditionTrue, ready.Status, ready.Message)

		// one outside a cluster namespace: refused on its own, nothing committed
		outside := &v1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Namespace: "default"}}
		e.create(outside)
		e.reconcile()
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKeyFromObject(outside), outside))
		bad := meta.FindStatusCondition(outside.Status.Conditions, v1alpha1.ReadyCondition)
		require.NotNil(t, bad)
		assert.Equal(t, metav1.ConditionFalse, bad.Status)
		assert.Equal(t, v1alpha1.InvalidNamespaceReason, bad.Reason)
		assert.Contains(t, bad.Message, `namespace "default" is not an app cluster namespace`)
		assert.True(t, meta.IsStatusConditionTrue(outside.Status.Conditions, v1alpha1.StalledCondition), "kstatus: Stalled")
		assert.Empty(t, outside.Status.Namespace)
		n = e.getAppNamespace("nsflow", "shop")

		e.reconcile()
		assert.Equal(t, head, e.head("main"), "a reconcile with nothing new commits nothing")
		assert.Equal(t, n.ResourceVersion, e.getAppNamespace("nsflow", "shop").ResourceVersion, "nor writes the status again")

		// a synced copy, as the agent writes it
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "orders-db", Namespace: inst,
			Labels: map[string]string{v1alpha1.ClusterLabel: "nsflow"}}}
		require.NoError(t, cp.Client.Create(ctx, cm))

		require.NoError(t, cp.Client.Delete(ctx, n))
		e.reconcile()
		removed := e.head("main")
		assert.Equal(t, "namespace: nsflow/shop", e.subjects()[0], "the removal has the same subject")
		assert.ElementsMatch(t, []string{staterepo.NamespacePath("nsflow", "shop"), staterepo.NamespacesDir("nsflow") + "/kustomization.yaml"},
			e.changedFiles(removed))
		assert.False(t, e.exists(&rbacv1.RoleBinding{}, inst, "bindsync-agent"), "the RoleBinding is pruned")
		assert.False(t, e.exists(&rbacv1.Role{}, inst, "bindsync-agent"), "the Role is pruned")
		require.True(t, e.exists(&ns, "", inst), "the namespace stays while it holds a synced copy")
		assert.Nil(t, ns.DeletionTimestamp)

		require.NoError(t, cp.Client.Delete(ctx, cm))
		e.rc = newReconciler(t, cp, e.remote) // the next resync (a new leader applies everything)
		e.reconcile()
		gone := !e.exists(&ns, "", inst) || ns.DeletionTimestamp != nil
		assert.True(t, gone, "the empty namespace is deleted")
		assert.Equal(t, removed, e.head("main"))
	})

	t.Run("the running backend handles a new APIServiceNamespace within seconds (a watch, not the poll)", func(t *testing.T) {
		remote := filepath.Join(t.TempDir(), "state.git")
		runGit(t, "", "init", "-q", "--bare", "-b", "main", remote)
		repo, err := git.Open(ctx, git.Options{URL: "file://" + remote, Dir: filepath.Join(t.TempDir(), "cache")})
		require.NoError(t, err)
		applier, err := backend.ControlPlaneApplier(cp.Config)
		require.NoError(t, err)
		mgr, err := ctrl.NewManager(cp.Config, ctrl.Options{Scheme: testenv.Scheme(), Cache: backend.CacheOptions(),
			Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
		require.NoError(t, err)
		rc, err := backend.New(backend.Options{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Repo: backend.GitRepo(repo),
			Applier: applier, Interval: time.Hour})
		require.NoError(t, err)
		require.NoError(t, rc.SetupWithManager(mgr))
		e := &backendEnv{t: t, cp: cp, remote: remote}
		e.create(&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "nswatch"}})
		mctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- mgr.Start(mctx) }()
		t.Cleanup(func() {
			cancel()
			require.NoError(t, <-done)
		})
		require.Eventually(t, func() bool {
			var ac v1alpha1.AppCluster
			require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Name: "nswatch"}, &ac))
			return meta.IsStatusConditionTrue(ac.Status.Conditions, v1alpha1.ReadyCondition)
		}, 30*time.Second, 100*time.Millisecond, "the first reconcile")
		time.Sleep(2 * time.Second) // the reconciles its own status writes cause are over

		start := time.Now()
		e.appNamespace("nswatch", "shop")
		require.Eventually(t, func() bool {
			return e.getAppNamespace("nswatch", "shop").Status.Namespace == render.InstanceNamespace("nswatch", "shop")
		}, 10*time.Second, 50*time.Millisecond, "status.namespace is set without waiting for the hour-long poll")
		t.Logf("APIServiceNamespace created -> status.namespace in %s", time.Since(start).Round(time.Millisecond))
		assert.Equal(t, "namespace: nswatch/shop", e.subjects()[0])
	})

	t.Run("an agent reaches its own instance namespaces and nothing else (impersonation)", func(t *testing.T) {
		e := newBackendEnv(t, cp)
		// clusters a-b and a, namespaces c and b-c: never one namespace
		for _, c := range []string{"imp-a", "imp-a-b"} {
			e.world(c, "pg-auto", v1alpha1.ApprovalAutomatic)
			e.request(c, "pg", "pg-auto")
		}
		tpl := &v1alpha1.APIServiceExportTemplate{}
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Name: "pg-auto"}, tpl))
		tpl.Spec.PermissionClaims = []v1alpha1.PermissionClaim{{GroupResource: v1alpha1.GroupResource{Resource: "secrets"},
			Verbs: []v1alpha1.Verb{"create", "get", "list"}}}
		require.NoError(t, cp.Client.Update(ctx, tpl))
		e.appNamespace("imp-a", "b-c")
		e.appNamespace("imp-a-b", "c")
		e.reconcile()
		own, other := render.InstanceNamespace("imp-a", "b-c"), render.InstanceNamespace("imp-a-b", "c")
		require.NotEqual(t, own, other)
		require.Equal(t, own, e.getAppNamespace("imp-a", "b-c").Status.Namespace)
		require.Equal(t, other, e.getAppNamespace("imp-a-b", "c").Status.Namespace)

		agentA, err := cp.Impersonate(v1alpha1.ClusterNamespace("imp-a"), v1alpha1.AgentServiceAccount)
		require.NoError(t, err)
		agentAB, err := cp.Impersonate(v1alpha1.ClusterNamespace("imp-a-b"), v1alpha1.AgentServiceAccount)
		require.NoError(t, err)
		pg := schema.GroupVersionKind{Group: "anynines.com", Version: "v1", Kind: "PostgresqlInstance"}
		instance := func(ns string) *unstructured.Unstructured {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(pg)
			u.SetNamespace(ns)
			u.SetName("orders-db")
			return u
		}
		secret := func(ns string) *corev1.Secret {
			return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "orders-db-conn", Namespace: ns}}
		}
		list := func(ns string) *unstructured.UnstructuredList {
			l := &unstructured.UnstructuredList{}
			l.SetGroupVersionKind(pg.GroupVersion().WithKind("PostgresqlInstanceList"))
			return l
		}

		// its own instance namespace: the bound resource and the claimed Secret
		require.NoError(t, agentA.Create(ctx, instance(own)), "create a bound object in its own instance namespace")
		require.NoError(t, agentA.Get(ctx, client.ObjectKey{Namespace: own, Name: "orders-db"}, instance(own)))
		require.NoError(t, agentA.List(ctx, list(own), client.InNamespace(own)))
		require.NoError(t, agentA.Create(ctx, secret(own)), "create a claimed Secret in its own instance namespace")
		require.NoError(t, agentA.Get(ctx, client.ObjectKeyFromObject(secret(own)), &corev1.Secret{}))
		require.NoError(t, agentA.List(ctx, &corev1.SecretList{}, client.InNamespace(own)))

		forbidden := func(what string, err error) {
			t.Helper()
			assert.True(t, apierrors.IsForbidden(err), "%s is forbidden (403), got %v", what, err)
		}
		for _, ns := range []string{other, v1alpha1.ClusterNamespace("imp-a-b"), "kube-system"} {
			forbidden("create "+pg.Kind+" in "+ns, agentA.Create(ctx, instance(ns)))
			forbidden("get "+pg.Kind+" in "+ns, agentA.Get(ctx, client.ObjectKey{Namespace: ns, Name: "orders-db"}, instance(ns)))
			forbidden("list "+pg.Kind+" in "+ns, agentA.List(ctx, list(ns), client.InNamespace(ns)))
			forbidden("create Secret in "+ns, agentA.Create(ctx, secret(ns)))
			forbidden("get Secret in "+ns, agentA.Get(ctx, client.ObjectKeyFromObject(secret(ns)), &corev1.Secret{}))
			forbidden("list Secrets in "+ns, agentA.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)))
		}
		forbidden("list "+pg.Kind+" in every namespace", agentA.List(ctx, list("")))
		forbidden("create an APIServiceNamespace in another cluster's namespace", agentA.Create(ctx, &v1alpha1.APIServiceNamespace{
			ObjectMeta: metav1.ObjectMeta{Name: "steal", Namespace: v1alpha1.ClusterNamespace("imp-a-b")}}))
		require.NoError(t, agentA.Create(ctx, &v1alpha1.APIServiceNamespace{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: v1alpha1.ClusterNamespace("imp-a")}}),
			"an agent asks for a namespace in its own cluster namespace")
		forbidden("a-b's agent in a's instance namespace", agentAB.Get(ctx, client.ObjectKey{Namespace: own, Name: "orders-db"}, instance(own)))
		forbidden("a-b's agent reading a's Secret", agentAB.Get(ctx, client.ObjectKeyFromObject(secret(own)), &corev1.Secret{}))
		require.NoError(t, agentAB.List(ctx, list(other), client.InNamespace(other)), "a-b's agent in its own")
	})
}
