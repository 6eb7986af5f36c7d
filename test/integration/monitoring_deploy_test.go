package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/internal/testenv"
)

// TestIntegrationMonitoringComponents builds config/control-plane and
// config/app-cluster with the optional components of config/monitoring as
// docs/operations.md says to add them (the PodMonitor, each component's
// NetworkPolicy, the rules and dashboard), checks that each policy and the
// PodMonitor select the component's pods and name ports its container
// has, and applies the result server-side to API servers of their own (the
// Prometheus Operator's kinds through stand-in CRDs,
// testdata/monitoring-crds.yaml). A test API server runs no network
// plugin: that the policies are enforced is the cluster's plugin's part.
func TestIntegrationMonitoringComponents(t *testing.T) {
	controlPlane := buildDeploy(t, overlayWith(t, "control-plane", []string{"monitoring"},
		"monitoring/podmonitor", "monitoring/networkpolicy/backend"))
	appCluster := buildDeploy(t, overlayWith(t, "app-cluster", nil,
		"monitoring/podmonitor", "monitoring/networkpolicy/agent"))

	for _, tc := range []struct {
		name, policy string
		objs         []*unstructured.Unstructured
		ingress      []string
	}{
		{"backend", "bindsync-backend", controlPlane, []string{"metrics", "probes"}},
		{"agent", "bindsync-agent", appCluster, []string{"metrics", "probes", "webhook"}},
	} {
		t.Run(tc.name+"'s policy and PodMonitor fit its pods", func(t *testing.T) {
			require.Equal(t, []string{tc.policy}, namesOf(tc.objs, "NetworkPolicy"))
			require.Equal(t, []string{"bindsync"}, namesOf(tc.objs, "PodMonitor"))
			var dep appsv1.Deployment
			fromUnstructured(t, onlyObject(t, tc.objs, "Deployment"), &dep)
			pods := labels.Set(dep.Spec.Template.Labels)
			ports := map[string]bool{}
			for _, c := range dep.Spec.Template.Spec.Containers {
				for _, p := range c.Ports {
					ports[p.Name] = true
				}
			}

			var np networkingv1.NetworkPolicy
			fromUnstructured(t, onlyObject(t, tc.objs, "NetworkPolicy"), &np)
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			require.NoError(t, err)
			assert.True(t, sel.Matches(pods), "the policy selects the %s's pods", tc.name)
			assert.ElementsMatch(t, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, np.Spec.PolicyTypes)
			var ingress []string
			for _, r := range np.Spec.Ingress {
				for _, p := range r.Ports {
					ingress = append(ingress, p.Port.String())
					assert.True(t, ports[p.Port.String()], "the policy admits port %s, which the container does not name", p.Port)
				}
			}
			assert.ElementsMatch(t, tc.ingress, ingress)
			var egress []string
			for _, r := range np.Spec.Egress {
				for _, p := range r.Ports {
					egress = append(egress, fmt.Sprintf("%s/%s", p.Port, *p.Protocol))
				}
			}
			assert.Subset(t, egress, []string{"53/UDP", "443/TCP", "22/TCP"}, "DNS, the API server and the git remote")

			pm := onlyObject(t, tc.objs, "PodMonitor")
			matchLabels, _, _ := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
			assert.True(t, labels.SelectorFromSet(matchLabels).Matches(pods), "the PodMonitor selects the %s's pods", tc.name)
			endpoints, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
			require.Len(t, endpoints, 1)
			assert.True(t, ports[endpoints[0].(map[string]any)["port"].(string)], "the PodMonitor scrapes a port the container names")
		})
	}

	t.Run("the dashboard is a ConfigMap Grafana's sidecar loads", func(t *testing.T) {
		cm := onlyObject(t, controlPlane, "ConfigMap", "bindsync-dashboard")
		assert.Equal(t, "1", cm.GetLabels()["grafana_dashboard"])
		data, _, _ := unstructured.NestedString(cm.Object, "data", "bindsync.json")
		var dashboard struct {
			Title  string
			Panels []json.RawMessage
		}
		require.NoError(t, json.Unmarshal([]byte(data), &dashboard))
		assert.Equal(t, "bindsync", dashboard.Title)
		assert.NotEmpty(t, dashboard.Panels)
	})

	cp, app := testenv.StartPair(t)
	ctx := testContext(t)
	crds, err := testenv.ReadObjects(filepath.Join("testdata", "monitoring-crds.yaml"))
	require.NoError(t, err)
	for _, c := range []*testenv.Cluster{cp, app} {
		require.NoError(t, c.ApplyObjects(ctx, crds))
		require.NoError(t, c.WaitEstablished(ctx, "podmonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com"))
	}
	for _, tc := range []struct {
		cluster *testenv.Cluster
		objs    []*unstructured.Unstructured
		policy  string
	}{{cp, controlPlane, "bindsync-backend"}, {app, appCluster, "bindsync-agent"}} {
		t.Run("applies server-side to "+tc.cluster.Name, func(t *testing.T) {
			assert.Empty(t, applyWithWarnings(ctx, t, tc.cluster, tc.objs))
			var np networkingv1.NetworkPolicy
			require.NoError(t, tc.cluster.Client.Get(ctx, client.ObjectKey{Namespace: deployNamespace, Name: tc.policy}, &np))
			pm := &unstructured.Unstructured{}
			pm.SetAPIVersion("monitoring.coreos.com/v1")
			pm.SetKind("PodMonitor")
			require.NoError(t, tc.cluster.Client.Get(ctx, client.ObjectKey{Namespace: deployNamespace, Name: "bindsync"}, pm))
		})
	}
}

// overlayWith writes an overlay of config/<base> that adds the folders of
// config/ in resources and components, as docs/operations.md tells an
// operator to.
func overlayWith(t *testing.T, base string, resources []string, components ...string) string {
	t.Helper()
	dir := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, repoPath(t, "config", p))
		require.NoError(t, err)
		return r
	}
	k := "resources:\n- " + rel(base) + "\n"
	for _, r := range resources {
		k += "- " + rel(r) + "\n"
	}
	k += "components:\n"
	for _, c := range components {
		k += "- " + rel(c) + "\n"
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600))
	return dir
}

// onlyObject returns the one object of kind (and name, if given) in objs.
func onlyObject(t *testing.T, objs []*unstructured.Unstructured, kind string, name ...string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && (len(name) == 0 || o.GetName() == name[0]) {
			found = append(found, o)
		}
	}
	require.Len(t, found, 1, "one %s %v", kind, name)
	return found[0]
}

func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into))
}
