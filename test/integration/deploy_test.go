package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	ktypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/apply"
	"github.com/bindsync/bindsync/internal/backend"
	"github.com/bindsync/bindsync/internal/kustomize"
	"github.com/bindsync/bindsync/internal/manifest"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// The namespace and ServiceAccounts the manifests in config/ install.
const (
	deployNamespace = "bindsync-system"
	backendSA       = "bindsync-backend"
	agentSA         = "bindsync-agent"
)

// TestIntegrationDeployManifests builds the overlays of config/ as
// `kubectl kustomize` does, applies them with server-side apply to API
// servers of their own (control-plane overlay to a control plane, app-cluster
// overlay to an app cluster), and then acts as the backend's and the agent's
// ServiceAccounts on those servers: each can do what it does, and nothing
// the RBAC comments rule out.
//
// Not parallel: it runs kustomize through krusty directly (config/ overlays
// reach sibling folders, which internal/kustomize refuses by design), and
// kustomize keeps global state that parallel builds would race on.
func TestIntegrationDeployManifests(t *testing.T) {
	controlPlane := buildDeploy(t, repoPath(t, "config", "control-plane"))
	appCluster := buildDeploy(t, repoPath(t, "config", "app-cluster"))
	clusterScoped := buildDeploy(t, clusterScopedOverlay(t))
	teamA, teamB := renderedControlPlane(t, "team-a"), renderedControlPlane(t, "team-b")
	teamANamespaces := renderedNamespaces(t, "team-a")
	scopeFolder := renderedClusterScoped(t, "deploy-scope")
	agentFolder, err := kustomize.BuildFS(os.DirFS(repoPath(t, "examples", "state-repo", "clusters", "team-a", "app")), ".")
	require.NoError(t, err)
	apply.Sort(agentFolder) // in the order they are applied

	t.Run("each overlay holds its cluster's CRDs and component", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			objs      []*unstructured.Unstructured
			crds      []string
			workload  string
			noneOf    []string
			accounts  []string
			endpoints []string
		}{
			{
				name: "control plane", objs: controlPlane,
				crds: []string{"apiserviceexportrequests.bindsync.io", "apiserviceexports.bindsync.io",
					"apiserviceexporttemplates.bindsync.io", "apiservicenamespaces.bindsync.io", "appclusters.bindsync.io"},
				workload: "bindsync-backend", noneOf: []string{"bindsync-agent"},
				accounts: []string{backendSA}, endpoints: []string{"bindsync-backend-metrics"},
			},
			{
				name: "app cluster", objs: appCluster,
				crds:     []string{"apiservicebindings.bindsync.io"},
				workload: "bindsync-agent", noneOf: []string{"bindsync-backend"},
				accounts: []string{agentSA}, endpoints: []string{"bindsync-agent-metrics", "bindsync-agent-webhook"},
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				assert.Equal(t, tc.crds, namesOf(tc.objs, "CustomResourceDefinition"))
				assert.Equal(t, []string{deployNamespace}, namesOf(tc.objs, "Namespace"))
				assert.Equal(t, []string{tc.workload}, namesOf(tc.objs, "Deployment"))
				assert.Equal(t, tc.accounts, namesOf(tc.objs, "ServiceAccount"))
				assert.Equal(t, tc.endpoints, namesOf(tc.objs, "Service"))
				for _, o := range tc.objs {
					assert.NotContains(t, tc.noneOf, o.GetName(), "%s %s belongs to the other cluster", o.GetKind(), o.GetName())
					if o.GetKind() != "Namespace" && o.GetKind() != "CustomResourceDefinition" && !clusterScopedKind(o.GetKind()) {
						assert.Equal(t, deployNamespace, o.GetNamespace(), "%s %s", o.GetKind(), o.GetName())
					}
				}
			})
		}
	})

	t.Run("pods are unprivileged and read credentials from Secret files", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			objs []*unstructured.Unstructured
		}{{"backend", controlPlane}, {"agent", appCluster}} {
			t.Run(tc.name, func(t *testing.T) { assertHardenedDeployment(t, tc.objs) })
		}
	})

	cp, app := testenv.StartPair(t)
	ctx := testContext(t)

	t.Run("the overlays apply server-side without a Pod Security warning", func(t *testing.T) {
		for _, tc := range []struct {
			cluster *testenv.Cluster
			objs    []*unstructured.Unstructured
		}{{cp, controlPlane}, {app, appCluster}} {
			t.Run(tc.cluster.Name, func(t *testing.T) {
				warnings := applyWithWarnings(ctx, t, tc.cluster, tc.objs)
				assert.Empty(t, warnings, "the API server warned about %s's manifests", tc.cluster.Name)
				// Applying again changes nothing: the manifests are stable.
				assert.Empty(t, applyWithWarnings(ctx, t, tc.cluster, tc.objs))
				var dep appsv1.Deployment
				require.NoError(t, tc.cluster.Client.Get(ctx, client.ObjectKey{Namespace: deployNamespace,
					Name: namesOf(tc.objs, "Deployment")[0]}, &dep))
			})
		}
		// The check above means something: the namespace warns about a pod
		// template that breaks the restricted standard.
		privileged := privilegedDeployment()
		assert.NotEmpty(t, applyWithWarnings(ctx, t, cp, []*unstructured.Unstructured{privileged}),
			"a privileged Deployment in %s draws a Pod Security warning", deployNamespace)
		require.NoError(t, cp.Client.Delete(ctx, privileged))
	})

	t.Run("the backend", func(t *testing.T) {
		testBackendRights(ctx, t, cp, backendRights{teamA: teamA, teamB: teamB, teamANamespaces: teamANamespaces,
			scope: scopeFolder, component: clusterScoped})
	})
	t.Run("the agent", func(t *testing.T) {
		testAgentRights(ctx, t, app, agentFolder)
	})
	t.Run("the agent's instance sync", func(t *testing.T) {
		testAgentInstanceRights(ctx, t, app, appCluster)
	})
	t.Run("the backend's RBAC alone, without the admission policy", func(t *testing.T) {
		testBackendRBACAlone(ctx, t, app, controlPlane)
	})
}

// testBackendRBACAlone installs only the backend's ClusterRole and
// ClusterRoleBinding of config/backend (no admission policy) on c, an API
// server the control-plane overlay is not applied to, and acts as the
// backend's ServiceAccount: RBAC itself lets it write and bind the Role
// bindsync-agent in an instance namespace, and refuses any ClusterRole and
// any binding of one, so the admission policy is not what stops an
// escalation.
func testBackendRBACAlone(ctx context.Context, t *testing.T, c *testenv.Cluster, controlPlane []*unstructured.Unstructured) {
	var rbac []*unstructured.Unstructured
	for _, o := range controlPlane {
		if (o.GetKind() == "ClusterRole" || o.GetKind() == "ClusterRoleBinding") && o.GetName() == backendSA {
			rbac = append(rbac, o)
		}
	}
	require.Len(t, rbac, 2, "config/backend has the ClusterRole and ClusterRoleBinding bindsync-backend")
	assert.Empty(t, applyWithWarnings(ctx, t, c, rbac))
	t.Cleanup(func() {
		for _, o := range rbac {
			_ = c.Client.Delete(context.Background(), o)
		}
	})
	var policies admissionregistrationv1.ValidatingAdmissionPolicyList
	require.NoError(t, c.Client.List(ctx, &policies))
	require.Empty(t, policies.Items, "no admission policy on this API server")

	as, err := client.New(c.ImpersonateConfig(testenv.ServiceAccountUser(deployNamespace, backendSA)), client.Options{Scheme: testenv.Scheme()})
	require.NoError(t, err)
	inst := render.InstanceNamespace("rbac-alone", "shop")
	require.NoError(t, as.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: inst}}), "create an instance namespace")
	// a second one where no RoleBinding bindsync-agent exists yet, so a
	// refused one is refused as a new binding
	bare := render.InstanceNamespace("rbac-alone", "web")
	require.NoError(t, as.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: bare}}))
	agentNS := v1alpha1.ClusterNamespace("rbac-alone")
	t.Run("may", func(t *testing.T) {
		require.NoError(t, applyAs(ctx, as, roleGranting(inst, agentSA, "secrets")),
			"write the Role bindsync-agent granting Secrets it cannot read itself (escalate on that name)")
		require.NoError(t, applyAs(ctx, as, agentBinding(inst, agentNS)), "bind it (bind on that name)")
	})
	t.Run("may not", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			do   func() error
		}{
			{"create a ClusterRole x granting secrets", func() error { return applyAs(ctx, as, clusterRoleGranting("x", "secrets")) }},
			{"create the former instances ClusterRole", func() error {
				return applyAs(ctx, as, clusterRoleGranting("bindsync:rbac-alone:instances", "secrets"))
			}},
			{"bind cluster-admin by a RoleBinding bindsync-agent in an instance namespace", func() error {
				rb := agentBinding(bare, agentNS)
				rb.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"}
				return applyAs(ctx, as, rb)
			}},
			{"bind the ClusterRole admin by a RoleBinding bindsync-agent in an instance namespace", func() error {
				rb := agentBinding(bare, agentNS)
				rb.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "admin"}
				return applyAs(ctx, as, rb)
			}},
			{"write a Role of another name granting secrets", func() error { return applyAs(ctx, as, roleGranting(inst, "other", "secrets")) }},
			{"create a ClusterRoleBinding of cluster-admin", func() error {
				return applyAs(ctx, as, clusterAdminBinding("bindsync:rbac-alone:agent", backendSA))
			}},
			{"read a Secret", func() error { return as.List(ctx, &corev1.SecretList{}, client.InNamespace(inst)) }},
		} {
			t.Run(tc.name, func(t *testing.T) { requireForbidden(t, tc.do(), tc.name) })
		}
	})
}

type backendRights struct {
	teamA, teamB, teamANamespaces, scope, component []*unstructured.Unstructured
}

// testBackendRights acts as the backend's ServiceAccount on cp, where the
// control-plane overlay is applied.
func testBackendRights(ctx context.Context, t *testing.T, cp *testenv.Cluster, in backendRights) {
	cfg := cp.ImpersonateConfig(testenv.ServiceAccountUser(deployNamespace, backendSA))
	as, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	require.NoError(t, err)
	applier, err := backend.ControlPlaneApplier(cfg)
	require.NoError(t, err)

	// The admission policy config/backend ships takes a moment to be
	// enforced once applied; wait for it (a dry run writes nothing).
	ns := v1alpha1.ClusterNamespace("team-a")
	require.Eventually(t, func() bool {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(labelledFor("team-a", roleGranting("kube-system", agentSA, "secrets")))
		require.NoError(t, err)
		err = as.Apply(ctx, client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u}),
			client.FieldOwner("bindsync-test"), client.ForceOwnership, client.DryRunAll)
		return apierrors.IsForbidden(err)
	}, 30*time.Second, 200*time.Millisecond, "the backend's admission policy denies a Role in kube-system")

	// First what the backend does on start-up: apply every cluster folder
	// (creating the namespaces). Then a request to write status on and a
	// Secret that must stay unread, in a namespace the backend made.
	require.NoError(t, errorsOf(applier.Apply(ctx, in.teamA), applier.Apply(ctx, in.teamB)),
		"the backend applies both example clusters' control-plane folders")
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-credentials"}, StringData: map[string]string{"k": "v"}}
	require.NoError(t, cp.Client.Create(ctx, secret))
	require.NoError(t, cp.Client.Create(ctx, &v1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "postgres"},
		Spec:       v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: "postgresql"}},
	}))

	t.Run("may", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			do   func() error
		}{
			{"list AppClusters, templates and requests (its cache)", func() error {
				for _, l := range []client.ObjectList{&v1alpha1.AppClusterList{}, &v1alpha1.APIServiceExportTemplateList{}, &v1alpha1.APIServiceExportRequestList{}} {
					if err := as.List(ctx, l); err != nil {
						return err
					}
				}
				return nil
			}},
			{"list CRD metadata and get a CRD", func() error {
				l := &metav1.PartialObjectMetadataList{}
				l.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinitionList"))
				if err := as.List(ctx, l); err != nil {
					return err
				}
				return as.Get(ctx, client.ObjectKey{Name: "appclusters.bindsync.io"}, &apiextensionsv1.CustomResourceDefinition{})
			}},
			{"write a request's status", func() error {
				q := &v1alpha1.APIServiceExportRequest{}
				if err := as.Get(ctx, client.ObjectKey{Namespace: ns, Name: "postgres"}, q); err != nil {
					return err
				}
				old := q.DeepCopy()
				q.Status.Phase = v1alpha1.RequestPending
				return as.Status().Patch(ctx, q, client.MergeFrom(old))
			}},
			{"write an AppCluster's status", func() error {
				c := &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
				if err := client.IgnoreAlreadyExists(cp.Client.Create(ctx, c)); err != nil {
					return err
				}
				if err := as.Get(ctx, client.ObjectKeyFromObject(c), c); err != nil {
					return err
				}
				old := c.DeepCopy()
				c.Status.Namespace = ns
				return as.Status().Patch(ctx, c, client.MergeFrom(old))
			}},
			{"apply them again (compare first, nothing to write)", func() error {
				return errorsOf(applier.Apply(ctx, in.teamA), applier.Apply(ctx, in.teamB))
			}},
			{"prune a cluster that left main, and every other cluster", func() error {
				return errorsOf(applier.PruneCluster(ctx, "team-b", nil), applier.PruneOtherClusters(ctx, []string{"team-a"}))
			}},
			{"record an event on a template", func() error {
				return as.Create(ctx, &eventsv1.Event{
					ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "bindsync-"},
					EventTime:  metav1.NewMicroTime(time.Now()), ReportingController: "bindsync.io/backend",
					ReportingInstance: "test", Action: "Render", Reason: v1alpha1.SucceededReason, Type: corev1.EventTypeNormal,
					Regarding: corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "APIServiceExportTemplate", Name: "postgresql"},
				})
			}},
			{"hold its leader lease", func() error { return createLease(ctx, as, deployNamespace, "bindsync-backend") }},
			{"create the Role and RoleBinding bindsync-agent in a cluster's namespace (admission allows them)", func() error {
				for _, o := range []client.Object{&rbacv1.Role{}, &rbacv1.RoleBinding{}} {
					o.SetNamespace(ns)
					o.SetName(agentSA)
					if err := cp.Client.Delete(ctx, o); err != nil {
						return err
					}
				}
				return applier.Apply(ctx, in.teamA)
			}},
			{"apply a cluster's instance namespaces (bsi-*, the Role bindsync-agent and its RoleBinding there)", func() error {
				return applier.Apply(ctx, in.teamANamespaces)
			}},
			{"list, get and write the status of APIServiceNamespaces", func() error {
				n := &v1alpha1.APIServiceNamespace{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "shop"}}
				if err := client.IgnoreAlreadyExists(cp.Client.Create(ctx, n)); err != nil {
					return err
				}
				if err := as.List(ctx, &v1alpha1.APIServiceNamespaceList{}); err != nil {
					return err
				}
				if err := as.Get(ctx, client.ObjectKeyFromObject(n), n); err != nil {
					return err
				}
				old := n.DeepCopy()
				n.Status.Namespace = render.InstanceNamespace("team-a", "shop")
				return as.Status().Patch(ctx, n, client.MergeFrom(old))
			}},
			{"delete an instance namespace it labelled", func() error {
				inst := labelledFor("team-a", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: render.InstanceNamespace("team-a", "gone"),
					Labels: map[string]string{v1alpha1.ConsumerNamespaceLabel: "gone", "pod-security.kubernetes.io/enforce": "restricted"}}})
				if err := cp.Client.Create(ctx, inst); err != nil {
					return err
				}
				return as.Delete(ctx, inst)
			}},
		} {
			t.Run(tc.name, func(t *testing.T) { require.NoError(t, tc.do()) })
		}
		var rb rbacv1.RoleBinding
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: render.InstanceNamespace("team-a", "shop"), Name: agentSA}, &rb))
		assert.Equal(t, rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: agentSA}, rb.RoleRef, "the backend wrote team-a's instance RoleBinding")
		var instRole rbacv1.Role
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: render.InstanceNamespace("team-a", "shop"), Name: agentSA}, &instRole))
		assert.NotEmpty(t, instRole.Rules, "the backend wrote team-a's instance Role, with the bound resources")
		kept, err := applier.RemoveInstanceNamespaces(ctx, "team-a", nil)
		require.NoError(t, err)
		require.Len(t, kept, 1, "an instance namespace main no longer holds is kept when the backend cannot list everything in it")
		assert.Contains(t, kept[0].Reason, "cannot check that it holds no synced copy")
		var role rbacv1.Role
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: v1alpha1.AgentServiceAccount}, &role))
		assert.Equal(t, "true", role.Labels[v1alpha1.ManagedLabel], "the backend wrote team-a's Role")
		err = cp.Client.Get(ctx, client.ObjectKey{Namespace: v1alpha1.ClusterNamespace("team-b"), Name: v1alpha1.AgentServiceAccount}, &rbacv1.Role{})
		assert.True(t, client.IgnoreNotFound(err) == nil && err != nil, "team-b's Role was pruned: %v", err)
	})

	t.Run("may not", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			do   func() error
		}{
			{"read a Secret in a cluster namespace", func() error {
				return as.Get(ctx, client.ObjectKeyFromObject(secret), &corev1.Secret{})
			}},
			{"list Secrets anywhere", func() error { return as.List(ctx, &corev1.SecretList{}) }},
			{"read a Secret in its own namespace", func() error {
				return as.Get(ctx, client.ObjectKey{Namespace: deployNamespace, Name: "bindsync-backend-git"}, &corev1.Secret{})
			}},
			{"write a Role of another name (no escalate beyond bindsync-agent)", func() error {
				return applyAs(ctx, as, roleGranting(ns, "reader", "secrets"))
			}},
			{"write a ClusterRole without the cluster-scoped component", func() error {
				return applyAs(ctx, as, clusterRoleGranting("bindsync:x:agent", "secrets"))
			}},
			{"bind cluster-admin", func() error {
				return applyAs(ctx, as, clusterAdminBinding("bindsync:x:agent", backendSA))
			}},
			{"create a Pod in a cluster namespace", func() error {
				return as.Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "p"},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}})
			}},
			{"delete a namespace", func() error {
				return as.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
			}},
			{"change a CRD", func() error {
				crd := &apiextensionsv1.CustomResourceDefinition{}
				if err := cp.Client.Get(ctx, client.ObjectKey{Name: "appclusters.bindsync.io"}, crd); err != nil {
					return err
				}
				return as.Patch(ctx, crd, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`)))
			}},
			{"create an AppCluster", func() error {
				return as.Create(ctx, &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "sneaky"}})
			}},
			{"take a lease in another namespace", func() error { return createLease(ctx, as, "kube-system", "bindsync-backend") }},
			// RBAC lets the backend write and bind the Role named
			// bindsync-agent in any namespace; the admission policy
			// (config/backend/admission-policy.yaml) keeps it to the
			// cluster namespaces, with rules render writes.
			{"create the Role bindsync-agent in kube-system", func() error {
				return applyAs(ctx, as, labelledFor("team-a", roleGranting("kube-system", agentSA, "secrets")))
			}},
			{"create the RoleBinding bindsync-agent in kube-system", func() error {
				return applyAs(ctx, as, labelledFor("team-a", agentBinding("kube-system", ns)))
			}},
			{"create the ServiceAccount bindsync-agent in kube-system", func() error {
				return applyAs(ctx, as, labelledFor("team-a", &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
					ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: agentSA}}))
			}},
			{"create the Role bindsync-agent in its own namespace", func() error {
				return applyAs(ctx, as, labelledFor("system", roleGranting(deployNamespace, agentSA, "secrets")))
			}},
			{"grant everything in a cluster's namespace", func() error {
				role := roleGranting(ns, agentSA, "secrets")
				role.Rules = []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}}
				return applyAs(ctx, as, labelledFor("team-a", role))
			}},
			{"grant pods in a cluster's namespace", func() error {
				return applyAs(ctx, as, labelledFor("team-a", roleGranting(ns, agentSA, "pods")))
			}},
			{"bind a cluster's Role to another subject", func() error {
				rb := agentBinding(ns, ns)
				rb.Subjects[0].Namespace = "kube-system"
				return applyAs(ctx, as, labelledFor("team-a", rb))
			}},
			{"label kube-system as a cluster's namespace", func() error {
				return applyAs(ctx, as, labelledFor("team-a", &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
					ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}}))
			}},
			{"create a namespace that is neither bsi- nor a cluster's", func() error {
				return applyAs(ctx, as, labelledFor("team-a", &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
					ObjectMeta: metav1.ObjectMeta{Name: "sneaky", Labels: map[string]string{v1alpha1.ConsumerNamespaceLabel: "x",
						"pod-security.kubernetes.io/enforce": "restricted"}}}))
			}},
			{"create an instance namespace of another cluster's name", func() error {
				return applyAs(ctx, as, labelledFor("team-a", &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
					ObjectMeta: metav1.ObjectMeta{Name: render.InstanceNamespace("team-b", "x"), Labels: map[string]string{v1alpha1.ConsumerNamespaceLabel: "x",
						"pod-security.kubernetes.io/enforce": "restricted"}}}))
			}},
			{"create an instance namespace without its consumer-namespace label", func() error {
				return applyAs(ctx, as, labelledFor("team-a", &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
					ObjectMeta: metav1.ObjectMeta{Name: render.InstanceNamespace("team-a", "x"), Labels: map[string]string{
						"pod-security.kubernetes.io/enforce": "restricted"}}}))
			}},
			// RBAC alone refuses these (the backend has no right on any
			// ClusterRole, nor bind but on Roles named bindsync-agent); the
			// subtest "its RBAC alone" below proves it without the policy.
			{"create a ClusterRole x granting secrets", func() error {
				return applyAs(ctx, as, labelledFor("team-a", clusterRoleGranting("x", "secrets")))
			}},
			{"write a ClusterRole of another name", func() error {
				return applyAs(ctx, as, labelledFor("team-a", clusterRoleGranting("bindsync:team-a:other", "secrets")))
			}},
			{"write the former instances ClusterRole bindsync:<c>:instances", func() error {
				return applyAs(ctx, as, labelledFor("team-a", clusterRoleGranting("bindsync:team-a:instances", "secrets")))
			}},
			{"bind cluster-admin by a RoleBinding bindsync-agent in an instance namespace", func() error {
				rb := agentBinding(render.InstanceNamespace("team-a", "shop"), ns)
				rb.RoleRef = rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"}
				return applyAs(ctx, as, labelledFor("team-a", rb))
			}},
			// the admission policy refuses these: the names RBAC allows, in
			// the wrong place or with the wrong content
			{"bind an instance namespace's Role to another cluster's agent", func() error {
				return applyAs(ctx, as, labelledFor("team-a", agentBinding(render.InstanceNamespace("team-a", "shop"), v1alpha1.ClusterNamespace("team-b"))))
			}},
			{"create another object in an instance namespace", func() error {
				return applyAs(ctx, as, labelledFor("team-a", &corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
					ObjectMeta: metav1.ObjectMeta{Namespace: render.InstanceNamespace("team-a", "shop"), Name: agentSA}}))
			}},
			{"write an instance namespace's Role granting pods", func() error {
				return applyAs(ctx, as, labelledFor("team-a", roleGranting(render.InstanceNamespace("team-a", "shop"), agentSA, "pods")))
			}},
			{"write an instance namespace's Role granting bindsync.io", func() error {
				role := roleGranting(render.InstanceNamespace("team-a", "shop"), agentSA, "apiserviceexports")
				role.Rules[0].APIGroups = []string{v1alpha1.GroupName}
				return applyAs(ctx, as, labelledFor("team-a", role))
			}},
			{"write the Role bindsync-agent in another cluster's instance namespace", func() error {
				other := labelledFor("team-b", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: render.InstanceNamespace("team-b", "x"),
					Labels: map[string]string{v1alpha1.ConsumerNamespaceLabel: "x", "pod-security.kubernetes.io/enforce": "restricted"}}})
				if err := client.IgnoreAlreadyExists(cp.Client.Create(ctx, other)); err != nil {
					return err
				}
				return applyAs(ctx, as, labelledFor("team-a", roleGranting(other.Name, agentSA, "secrets")))
			}},
			{"delete a namespace bindsync did not label as an instance namespace", func() error {
				plain := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bsi-unlabelled-0123456789"}}
				if err := client.IgnoreAlreadyExists(cp.Client.Create(ctx, plain)); err != nil {
					return err
				}
				return as.Delete(ctx, plain)
			}},
			{"lower a cluster namespace's Pod Security level", func() error {
				n := &corev1.Namespace{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: ns,
					Labels: map[string]string{"pod-security.kubernetes.io/enforce": "privileged"}}}
				return applyAs(ctx, as, labelledFor("team-a", n))
			}},
		} {
			t.Run(tc.name, func(t *testing.T) { requireForbidden(t, tc.do(), tc.name) })
		}
		err := cp.Client.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: agentSA}, &rbacv1.Role{})
		assert.True(t, apierrors.IsNotFound(err), "no Role bindsync-agent in kube-system: %v", err)
	})

	t.Run("cluster-scoped binds need the opt-in component", func(t *testing.T) {
		err := applier.Apply(ctx, in.scope)
		requireForbidden(t, err, "apply a ClusterRole without the component")
		assert.Empty(t, applyWithWarnings(ctx, t, cp, in.component))
		// the component changes the admission policy, which takes a moment
		// to be enforced
		var last error
		require.Eventually(t, func() bool { last = applier.Apply(ctx, in.scope); return last == nil },
			30*time.Second, 200*time.Millisecond, "with config/backend/cluster-scoped-binds: %v", &last)
		var crb rbacv1.ClusterRoleBinding
		require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Name: render.ClusterRoleName("deploy-scope")}, &crb))
		assert.Equal(t, "true", crb.Labels[v1alpha1.ManagedLabel])
		// The component lets the backend write ClusterRoles; it still reads no Secret.
		requireForbidden(t, as.List(ctx, &corev1.SecretList{}), "list Secrets with the component")
	})
}

// testAgentRights acts as the agent's ServiceAccount on app, where the
// app-cluster overlay is applied.
func testAgentRights(ctx context.Context, t *testing.T, app *testenv.Cluster, folder []*unstructured.Unstructured) {
	cfg := app.ImpersonateConfig(testenv.ServiceAccountUser(deployNamespace, agentSA))
	as, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	require.NoError(t, err)
	managed, err := labels.Parse(v1alpha1.ManagedLabel + "=true")
	require.NoError(t, err)
	applier, err := apply.New(cfg, apply.Options{FieldManager: "bindsync-agent", PruneSelector: managed, WaitEstablished: 30 * time.Second})
	require.NoError(t, err)
	binding := &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: "postgresqlinstances.anynines.com"}}
	require.NoError(t, app.Client.Create(ctx, binding))
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "db-password"}, StringData: map[string]string{"k": "v"}}
	require.NoError(t, app.Client.Create(ctx, secret))

	t.Run("may", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			do   func() error
		}{
			{"apply the CRDs of its folder and wait for them", func() error {
				res, err := applier.Apply(ctx, folder)
				if err != nil {
					return err
				}
				return res.Err()
			}},
			{"list CRDs and bindings (its cache)", func() error {
				return errorsOf(as.List(ctx, &apiextensionsv1.CustomResourceDefinitionList{}), as.List(ctx, &v1alpha1.APIServiceBindingList{}))
			}},
			{"put its finalizer on a binding", func() error {
				b := &v1alpha1.APIServiceBinding{}
				if err := as.Get(ctx, client.ObjectKeyFromObject(binding), b); err != nil {
					return err
				}
				old := b.DeepCopy()
				b.Finalizers = append(b.Finalizers, v1alpha1.AgentFinalizer)
				return as.Patch(ctx, b, client.MergeFrom(old))
			}},
			{"write a binding's status", func() error {
				b := &v1alpha1.APIServiceBinding{}
				if err := as.Get(ctx, client.ObjectKeyFromObject(binding), b); err != nil {
					return err
				}
				b.Status.CRDName = b.Name
				return as.Status().Update(ctx, b)
			}},
			{"delete a bound CRD (deletionPolicy Delete)", func() error {
				return as.Delete(ctx, &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: folder[0].GetName()}})
			}},
			{"record an event", func() error {
				return as.Create(ctx, &corev1.Event{
					ObjectMeta:     metav1.ObjectMeta{Namespace: "default", GenerateName: "bindsync-"},
					InvolvedObject: corev1.ObjectReference{APIVersion: v1alpha1.GroupVersion.String(), Kind: "APIServiceBinding", Name: binding.Name},
					Reason:         v1alpha1.RefusedReason, Message: "test", Type: corev1.EventTypeWarning,
				})
			}},
			{"hold its leader lease", func() error { return createLease(ctx, as, deployNamespace, "bindsync-agent-team-a") }},
		} {
			t.Run(tc.name, func(t *testing.T) { require.NoError(t, tc.do()) })
		}
	})

	t.Run("may not", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			do   func() error
		}{
			{"read a Secret", func() error { return as.Get(ctx, client.ObjectKeyFromObject(secret), &corev1.Secret{}) }},
			{"list Secrets anywhere", func() error { return as.List(ctx, &corev1.SecretList{}) }},
			{"read a ConfigMap", func() error {
				return as.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: "extension-apiserver-authentication"}, &corev1.ConfigMap{})
			}},
			{"create a binding (that is the developer's consent)", func() error {
				return as.Create(ctx, &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"}})
			}},
			{"delete a binding", func() error { return as.Delete(ctx, binding.DeepCopy()) }},
			{"create a Namespace", func() error {
				return as.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sneaky"}})
			}},
			{"bind cluster-admin", func() error { return applyAs(ctx, as, clusterAdminBinding("sneaky", agentSA)) }},
			{"create a Deployment", func() error {
				d := privilegedDeployment()
				d.SetNamespace("default")
				return applyAs(ctx, as, d)
			}},
			{"take a lease in another namespace", func() error { return createLease(ctx, as, "kube-system", "bindsync-agent-team-a") }},
		} {
			t.Run(tc.name, func(t *testing.T) { requireForbidden(t, tc.do(), tc.name) })
		}
	})
}

// TestIntegrationDeployDockerfile reads the Dockerfile (docker does not run
// here): the image is a static binary on an empty or distroless base, run as
// the unprivileged user the Deployments name, built for BuildKit's target
// platforms and carrying the OCI labels.
func TestIntegrationDeployDockerfile(t *testing.T) {
	t.Parallel()
	stages := readDockerfile(t, repoPath(t, "Dockerfile"))
	require.GreaterOrEqual(t, len(stages), 2, "a multi-stage build")
	final := stages[len(stages)-1]
	assert.Truef(t, final.from == "scratch" || strings.Contains(final.from, "distroless/static"),
		"final stage FROM %q: scratch or a distroless static base", final.from)
	assert.Equal(t, "65532:65532", final.user, "the final stage runs as 65532, not root")
	assert.Contains(t, final.entrypoint, "/bindsync")
	build := stages[0]
	assert.Contains(t, build.runs, "CGO_ENABLED=0", "the binary is static")
	assert.Contains(t, build.runs, "./cmd/bindsync")
	// Multi-arch: the build stage runs on the builder's platform and
	// cross-compiles for BuildKit's target.
	assert.Equal(t, "--platform=$BUILDPLATFORM", build.from, "the build stage runs on the builder's own platform")
	assert.Contains(t, build.runs, "GOOS=${TARGETOS} GOARCH=${TARGETARCH}", "built for BuildKit's target platform")
	for _, label := range []string{"source", "version", "revision", "licenses", "title", "description"} {
		assert.Contains(t, final.labels, "org.opencontainers.image."+label+"=", "the image carries the OCI label %s", label)
	}
	assert.Contains(t, final.labels, `org.opencontainers.image.licenses="Apache-2.0"`)
	assert.FileExists(t, repoPath(t, "LICENSE"))
	assert.FileExists(t, repoPath(t, ".dockerignore"))

	for _, dir := range []string{"backend", "agent"} {
		data, err := os.ReadFile(repoPath(t, "config", dir, "deployment.yaml"))
		require.NoError(t, err)
		assert.Contains(t, string(data), "runAsUser: 65532", "config/%s runs as the image's user", dir)
	}
}

// dockerStage is one FROM ... section of a Dockerfile.
type dockerStage struct {
	from, user, entrypoint, runs, labels string
}

func readDockerfile(t *testing.T, path string) []dockerStage {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var stages []dockerStage
	var line string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		text := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(text, "#") || text == "" {
			continue
		}
		if cont, ok := strings.CutSuffix(text, "\\"); ok {
			line += cont + " "
			continue
		}
		line += text
		word, rest, _ := strings.Cut(line, " ")
		line = ""
		switch strings.ToUpper(word) {
		case "FROM":
			stages = append(stages, dockerStage{from: strings.Fields(rest)[0]})
		case "USER":
			stages[len(stages)-1].user = strings.TrimSpace(rest)
		case "ENTRYPOINT":
			stages[len(stages)-1].entrypoint = rest
		case "RUN":
			stages[len(stages)-1].runs += rest + "\n"
		case "LABEL":
			stages[len(stages)-1].labels += rest + "\n"
		}
	}
	require.NoError(t, sc.Err())
	return stages
}

// buildDeploy builds a folder of config/ as `kubectl kustomize` does: load
// restrictions root-only, no plugins.
func buildDeploy(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	opts := krusty.MakeDefaultOptions()
	opts.PluginConfig = ktypes.DisabledPluginConfig()
	res, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	var objs []*unstructured.Unstructured
	for _, r := range res.Resources() {
		data, err := r.MarshalJSON()
		require.NoError(t, err)
		u := &unstructured.Unstructured{}
		require.NoError(t, u.UnmarshalJSON(data))
		objs = append(objs, u)
	}
	apply.Sort(objs)
	return objs
}

// clusterScopedOverlay writes an overlay that adds the opt-in component
// config/backend/cluster-scoped-binds to config/control-plane, as
// docs/operations.md tells an operator to.
func clusterScopedOverlay(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, p)
		require.NoError(t, err)
		return r
	}
	k := fmt.Sprintf("resources:\n- %s\ncomponents:\n- %s\n",
		rel(repoPath(t, "config", "control-plane")), rel(repoPath(t, "config", "backend", "cluster-scoped-binds")))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600))
	return dir
}

// renderedNamespaces renders the example control plane in memory and builds
// cluster's namespaces folder.
func renderedNamespaces(t *testing.T, cluster string) []*unstructured.Unstructured {
	t.Helper()
	in, problems, err := manifest.LoadDir(repoPath(t, "examples", "control-plane"))
	require.NoError(t, err)
	require.Empty(t, problems)
	fsys := fstest.MapFS{}
	for p, data := range render.Render(in).Tree {
		fsys[p] = &fstest.MapFile{Data: data}
	}
	objs, err := kustomize.BuildFS(fsys, staterepo.NamespacesDir(cluster))
	require.NoError(t, err)
	apply.Sort(objs) // in the order they are applied
	require.NoError(t, render.CheckNamespacesFolder(cluster, objs))
	require.NotEmpty(t, namesOf(objs, "Namespace"))
	return objs
}

// renderedClusterScoped renders, in memory, a cluster that binds a
// cluster-scoped CRD, and builds its control-plane folder.
func renderedClusterScoped(t *testing.T, cluster string) []*unstructured.Unstructured {
	t.Helper()
	gadgets := syntheticCRD("gadgets.scope.example.com", "Gadget", apiextensionsv1.ClusterScoped)
	out := render.Render(render.Input{
		CRDs:      []apiextensionsv1.CustomResourceDefinition{gadgets},
		Templates: []v1alpha1.APIServiceExportTemplate{scopeTemplate("gadgets", "gadgets")},
		Clusters:  []v1alpha1.AppCluster{{ObjectMeta: metav1.ObjectMeta{Name: cluster}}},
		Requests:  []v1alpha1.APIServiceExportRequest{scopeRequest(cluster, "gadgets")},
	})
	require.Empty(t, out.Problems)
	fsys := fstest.MapFS{}
	for p, data := range out.Tree {
		fsys[p] = &fstest.MapFile{Data: data}
	}
	objs, err := kustomize.BuildFS(fsys, staterepo.ControlPlaneDir(cluster))
	require.NoError(t, err)
	apply.Sort(objs) // in the order they are applied
	require.Contains(t, namesOf(objs, "ClusterRole"), render.ClusterRoleName(cluster))
	return objs
}

// applyWithWarnings server-side applies objs as an administrator and returns
// the warnings the API server sent back (Pod Security, deprecations).
func applyWithWarnings(ctx context.Context, t *testing.T, c *testenv.Cluster, objs []*unstructured.Unstructured) []string {
	t.Helper()
	warnings, err := c.ApplyWithWarnings(ctx, objs)
	require.NoError(t, err)
	return warnings
}

// applyAs server-side applies o with an impersonated client, as bindsync
// writes objects.
func applyAs(ctx context.Context, c client.Client, o runtime.Object) error {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return err
	}
	obj := &unstructured.Unstructured{Object: u}
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("bindsync-test"), client.ForceOwnership)
}

func createLease(ctx context.Context, c client.Client, namespace, name string) error {
	return c.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}})
}

func roleGranting(namespace, name, resource string) *rbacv1.Role {
	return &rbacv1.Role{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{resource}, Verbs: []string{"get"}}},
	}
}

// labelledFor labels o as bindsync labels the objects it renders for cluster.
func labelledFor[T client.Object](cluster string, o T) T {
	l := o.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	l[v1alpha1.ManagedLabel] = "true"
	l[v1alpha1.ClusterLabel] = cluster
	o.SetLabels(l)
	return o
}

// agentBinding is the RoleBinding render writes, in namespace, for the agent
// ServiceAccount of agentNamespace.
func agentBinding(namespace, agentNamespace string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: agentSA},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: agentSA},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: agentNamespace, Name: agentSA}},
	}
}

func clusterRoleGranting(name, resource string) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{resource}, Verbs: []string{"get"}}},
	}
}

func clusterAdminBinding(name, serviceAccount string) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: deployNamespace, Name: serviceAccount}},
	}
}

// privilegedDeployment breaks the restricted Pod Security standard.
func privilegedDeployment() *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "privileged", "namespace": deployNamespace},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": "privileged"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "privileged"}},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": "c", "image": "x", "securityContext": map[string]any{"privileged": true},
				}}},
			},
		},
	}}
	return u
}

// assertHardenedDeployment checks the one Deployment of objs: every claim
// the manifests' comments and docs/operations.md make about the pod.
func assertHardenedDeployment(t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	var dep appsv1.Deployment
	for _, o := range objs {
		if o.GetKind() == "Deployment" {
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &dep))
		}
	}
	require.NotEmpty(t, dep.Name, "a Deployment")
	pod := dep.Spec.Template.Spec
	require.NotNil(t, pod.SecurityContext)
	assert.Equal(t, new(true), pod.SecurityContext.RunAsNonRoot, "runAsNonRoot")
	assert.Equal(t, new(int64(65532)), pod.SecurityContext.RunAsUser)
	require.NotNil(t, pod.SecurityContext.SeccompProfile)
	assert.Equal(t, corev1.SeccompProfileTypeRuntimeDefault, pod.SecurityContext.SeccompProfile.Type)
	assert.NotEmpty(t, pod.ServiceAccountName)
	assert.NotContains(t, []string{"", "default"}, pod.ServiceAccountName, "its own ServiceAccount")
	assert.Equal(t, pod.ServiceAccountName, namesOf(objs, "ServiceAccount")[0])

	secretVolumes := map[string]bool{}
	for _, v := range pod.Volumes {
		assert.Nil(t, v.HostPath, "volume %s is no hostPath", v.Name)
		if v.Secret != nil {
			secretVolumes[v.Name] = true
		}
	}
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.Equal(t, new(true), sc.ReadOnlyRootFilesystem, "readOnlyRootFilesystem")
	assert.Equal(t, new(false), sc.AllowPrivilegeEscalation, "allowPrivilegeEscalation")
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	assert.Empty(t, sc.Capabilities.Add)
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		assert.Contains(t, c.Resources.Requests, r, "requests %s", r)
	}
	assert.Contains(t, c.Resources.Limits, corev1.ResourceMemory, "a memory limit")
	require.NotNil(t, c.LivenessProbe)
	require.NotNil(t, c.ReadinessProbe)
	assert.Equal(t, "/healthz", c.LivenessProbe.HTTPGet.Path)
	assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)

	// Credentials are files on read-only Secret volumes; no environment
	// variable carries a Secret's value.
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			continue
		}
		assert.Nil(t, e.ValueFrom.SecretKeyRef, "env %s does not read a Secret", e.Name)
		if ref := e.ValueFrom.ConfigMapKeyRef; ref != nil {
			assert.Contains(t, namesOf(objs, "ConfigMap"), ref.Name, "env %s names a ConfigMap of the build", e.Name)
		}
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
		if secretVolumes[m.Name] {
			assert.True(t, m.ReadOnly, "Secret volume %s is mounted read-only", m.Name)
		}
	}
	files := 0
	for _, arg := range c.Args {
		flag, value, ok := strings.Cut(arg, "=")
		if !ok || !strings.HasSuffix(flag, "-file") && !strings.HasSuffix(flag, "-kubeconfig") {
			continue
		}
		files++
		m, found := mounts[filepath.Dir(value)]
		if assert.Truef(t, found, "%s: %s is on a mounted volume", flag, value) {
			assert.Truef(t, secretVolumes[m.Name], "%s: %s comes from a Secret", flag, value)
		}
	}
	assert.Positive(t, files, "credentials are passed as files")
	assert.Contains(t, mounts, "/tmp", "a writable /tmp on an emptyDir")
}

func namesOf(objs []*unstructured.Unstructured, kind string) []string {
	var names []string
	for _, o := range objs {
		if o.GetKind() == kind {
			names = append(names, o.GetName())
		}
	}
	return names
}

func clusterScopedKind(kind string) bool {
	return kind == "ClusterRole" || kind == "ClusterRoleBinding" ||
		kind == "ValidatingAdmissionPolicy" || kind == "ValidatingAdmissionPolicyBinding"
}

func errorsOf(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
