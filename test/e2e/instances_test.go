package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// deprovision is how long the stand-in provider holds a deleted copy.
const deprovision = 3 * time.Second

// TestIntegrationEndToEndInstances runs instance sync through real
// processes: the backend, the agent (given the kubeconfig `cluster add`
// wrote) and the stand-in provider on the control plane, with a bare state
// repository. An instance made in an app namespace gets a copy in the
// namespace the backend assigned, the provider's status and connection
// Secret come back, deletion waits for the copy, and restarting the backend
// and the agent (empty caches) deletes nothing.
func TestIntegrationEndToEndInstances(t *testing.T) {
	j := newJourney(t)
	require.True(t, j.cli, "instance sync needs the journey commands (cluster add writes the agent's control-plane kubeconfig)")
	standinBin, err := testenv.BuildStandinProvider(j.dir)
	require.NoError(t, err)

	j.create(j.cp, &v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: template},
		Spec: v1alpha1.APIServiceExportTemplateSpec{
			Resources:          []v1alpha1.GroupResource{{Group: "anynines.com", Resource: "postgresqlinstances"}},
			SchemaUpdatePolicy: v1alpha1.SchemaUpdatePolicy("NonBreaking"), Approval: v1alpha1.ApprovalPolicy("Automatic"),
			PermissionClaims: []v1alpha1.PermissionClaim{{
				GroupResource: v1alpha1.GroupResource{Resource: "secrets"},
				Verbs:         []v1alpha1.Verb{"get", "list", "watch"},
				Owner:         v1alpha1.ClaimOwnerProvider,
				References: []v1alpha1.ClaimReference{{Group: "anynines.com", Resource: "postgresqlinstances",
					JSONPath: ".spec.writeConnectionSecretToRef.name"}},
			}}}})
	j.clusterAdd()
	j.agent = startProcess(t, "agent", j.bin, "agent", "--kubeconfig", j.app.WriteKubeconfig(t), "--cluster", cluster,
		"--repo", "file://"+j.remote, "--interval", "1s", "--retry-interval", "1s",
		"--control-plane-kubeconfig", j.agentKubeconfig,
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0")
	standin := startProcess(t, "standin-provider", standinBin, "--kubeconfig", j.cpKubeconfig,
		"--resource", pgCRD, "--deprovision", deprovision.String())
	j.bind()

	const appNS = "shop"
	cpNS := render.InstanceNamespace(cluster, appNS)
	require.NoError(t, j.app.Client.Create(j.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: appNS}}))

	var ordersDB *unstructured.Unstructured
	j.step("an instance goes up: a copy in the assigned namespace, with the contract's annotations and label", func(t *testing.T) {
		ordersDB = j.createInstanceIn(appNS, "orders-db", "orders-db-credentials")
		j.eventually("APIServiceNamespace "+appNS+" has its namespace", func() (bool, string) {
			var n v1alpha1.APIServiceNamespace
			err := j.cp.Client.Get(j.ctx, client.ObjectKey{Namespace: j.clusterNS, Name: appNS}, &n)
			return err == nil && n.Status.Namespace != "", fmt.Sprint(err, n.Status)
		})
		var n v1alpha1.APIServiceNamespace
		require.NoError(t, j.cp.Client.Get(j.ctx, client.ObjectKey{Namespace: j.clusterNS, Name: appNS}, &n))
		assert.Equal(t, cpNS, n.Status.Namespace)
		var causes int
		for _, s := range j.subjects() {
			if strings.HasPrefix(s, "namespace: "+cluster+"/"+appNS) {
				causes++
			}
		}
		assert.Equal(t, 1, causes, "one commit names the cause: %q", j.subjects())
		files, err := gitOutput(j.remote, "ls-tree", "-r", "--name-only", "main", staterepo.NamespacesDir(cluster))
		require.NoError(t, err)
		assert.Contains(t, files, staterepo.NamespacePath(cluster, appNS))

		cp := j.waitCopy(cpNS, "orders-db")
		assert.Equal(t, map[string]string{
			v1alpha1.ConsumerClusterAnnotation:   cluster,
			v1alpha1.ConsumerNamespaceAnnotation: appNS,
			v1alpha1.ConsumerNameAnnotation:      "orders-db",
			v1alpha1.ConsumerUIDAnnotation:       string(ordersDB.GetUID()),
		}, pick(cp.GetAnnotations(), v1alpha1.ConsumerClusterAnnotation, v1alpha1.ConsumerNamespaceAnnotation,
			v1alpha1.ConsumerNameAnnotation, v1alpha1.ConsumerUIDAnnotation))
		assert.Equal(t, cluster, cp.GetLabels()[v1alpha1.ClusterLabel])
		assert.Equal(t, "checkout", cp.GetLabels()["team"], "the app object's labels go up")
		for _, f := range []string{"service", "plan", "expose"} {
			assert.Equal(t, ordersDB.Object["spec"].(map[string]any)[f], cp.Object["spec"].(map[string]any)[f], "spec.%s", f)
		}
	})

	j.step("status and the connection Secret come back to the app namespace", func(t *testing.T) {
		j.waitReady(appNS, "orders-db")
		j.eventually("the copy's spec.resourceRef (the provider's own field) stays", func() (bool, string) {
			ref, _, _ := unstructured.NestedString(j.waitCopy(cpNS, "orders-db").Object, "spec", "resourceRef", "name")
			return ref != "", "no resourceRef"
		})
		var down, up corev1.Secret
		j.eventually("Secret "+appNS+"/orders-db-credentials arrived", func() (bool, string) {
			err := j.app.Client.Get(j.ctx, client.ObjectKey{Namespace: appNS, Name: "orders-db-credentials"}, &down)
			return err == nil, fmt.Sprint(err)
		})
		require.NoError(t, j.cp.Client.Get(j.ctx, client.ObjectKey{Namespace: cpNS, Name: "orders-db-credentials"}, &up))
		assert.Equal(t, up.Data, down.Data, "the Secret comes down with the provider's data")
		assert.NotEmpty(t, down.Data["password"])
		j.eventually("the binding says InstancesSynced", func() (bool, string) {
			c := condition(j.binding().Status.Conditions, v1alpha1.InstancesSyncedCondition)
			return c.Status == metav1.ConditionTrue, c.Reason + ": " + c.Message
		})
	})

	j.step("delete waits for the copy: the copy goes first, the app object after", func(t *testing.T) {
		deleted := time.Now()
		require.NoError(t, j.app.Client.Delete(j.ctx, ordersDB))
		var copyGone, appGone time.Duration
		j.eventually("both are gone", func() (bool, string) {
			if copyGone == 0 && !j.exists(j.cp, cpNS, "orders-db") {
				copyGone = time.Since(deleted)
			}
			if appGone == 0 && !j.exists(j.app, appNS, "orders-db") {
				appGone = time.Since(deleted)
				require.NotZero(t, copyGone, "the app object went while its copy was still there")
			}
			return copyGone > 0 && appGone > 0, fmt.Sprintf("copy gone after %s, app object after %s", copyGone, appGone)
		})
		t.Logf("copy gone after %s, app object after %s", copyGone.Round(time.Millisecond), appGone.Round(time.Millisecond))
		assert.GreaterOrEqual(t, appGone, deprovision-time.Second, "the app object waited for deprovisioning")
	})

	j.step("backend and agent restarted, the agent with empty caches: nothing deleted, and it converges", func(t *testing.T) {
		kept := j.createInstanceIn(appNS, "inventory-db", "inventory-db-credentials")
		j.waitReady(appNS, "inventory-db")
		keptCopy := j.waitCopy(cpNS, "inventory-db")

		j.agent.kill(t)
		j.backend.kill(t)
		standin.stop()
		j.backend.start(t)
		j.agent.start(t)
		standin.start(t)
		// Long enough for the agent to have listed both sides and for the
		// backend to have rendered and applied again.
		time.Sleep(5 * time.Second)
		j.waitInSync("the binding is Ready at main's head again")
		for _, o := range []struct {
			c   *testenv.Cluster
			ns  string
			uid types.UID
		}{{j.app, appNS, kept.GetUID()}, {j.cp, cpNS, keptCopy.GetUID()}} {
			got := j.get(o.c, o.ns, "inventory-db")
			require.NotNil(t, got, "%s: %s/inventory-db is still there", o.c.Name, o.ns)
			assert.Equal(t, o.uid, got.GetUID(), "%s: the same object, not a new one", o.c.Name)
			assert.Nil(t, got.GetDeletionTimestamp(), "%s: not being deleted", o.c.Name)
		}
		var ns corev1.Namespace
		require.NoError(t, j.cp.Client.Get(j.ctx, client.ObjectKey{Name: cpNS}, &ns))
		assert.Nil(t, ns.DeletionTimestamp, "the instance namespace stays")

		j.createInstanceIn(appNS, "sessions-db", "")
		j.waitCopy(cpNS, "sessions-db")
		j.waitReady(appNS, "sessions-db")
		j.eventually("the binding counts 2 of 2 synced, none restored", func() (bool, string) {
			b := j.binding()
			c := condition(b.Status.Conditions, v1alpha1.InstancesSyncedCondition)
			n := b.Status.Instances
			return c.Status == metav1.ConditionTrue && n != nil && n.Synced == 2 && n.Failed == 0 && n.Restored == 0,
				fmt.Sprintf("%s %s: %s; %+v", c.Status, c.Reason, c.Message, n)
		})
	})
}

// createInstanceIn creates a PostgresqlInstance (label team=checkout) in an
// app namespace; secret names its connection Secret ("" for none).
func (j *journey) createInstanceIn(ns, name, secret string) *unstructured.Unstructured {
	spec := map[string]any{"service": "a9s-postgresql15", "plan": "postgresql-single-small",
		"compositionRef": map[string]any{"name": "a9s-postgresql"}, "expose": "Internal"}
	if secret != "" {
		spec["writeConnectionSecretToRef"] = map[string]any{"name": secret}
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "anynines.com/v1", "kind": "PostgresqlInstance",
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{"team": "checkout"}},
		"spec":     spec,
	}}
	require.NoError(j.t, j.app.Client.Create(j.ctx, u))
	return u
}

// get returns a PostgresqlInstance, nil when there is none.
func (j *journey) get(c *testenv.Cluster, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("anynines.com/v1")
	u.SetKind("PostgresqlInstance")
	err := c.Client.Get(j.ctx, client.ObjectKey{Namespace: ns, Name: name}, u)
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(j.t, err)
	return u
}

func (j *journey) exists(c *testenv.Cluster, ns, name string) bool { return j.get(c, ns, name) != nil }

// waitCopy waits for the provider copy ns/name on the control plane.
func (j *journey) waitCopy(ns, name string) *unstructured.Unstructured {
	var u *unstructured.Unstructured
	j.eventually("the copy "+ns+"/"+name+" exists", func() (bool, string) {
		u = j.get(j.cp, ns, name)
		return u != nil, "not found"
	})
	return u
}

// waitReady waits until the app object ns/name has the provider's Ready=True.
func (j *journey) waitReady(ns, name string) {
	j.eventually(ns+"/"+name+" is Ready in the app cluster", func() (bool, string) {
		u := j.get(j.app, ns, name)
		if u == nil {
			return false, "not found"
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
				return m["status"] == "True", fmt.Sprint(m)
			}
		}
		return false, "no Ready condition: " + strings.TrimSpace(fmt.Sprint(u.Object["status"]))
	})
}

// pick returns the entries of m with the given keys.
func pick(m map[string]string, keys ...string) map[string]string {
	out := map[string]string{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}
