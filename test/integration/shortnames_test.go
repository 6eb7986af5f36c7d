package integration

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	bindsyncv1alpha1 "github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/testenv"
)

// kubeBindNames are the resource names kube-bind's CRDs publish (group
// kube-bind.io): plural, singular and short names. Source: github.com/kube-bind/kube-bind,
// deploy/crd/kube-bind.io_*.yaml at commit 6ac88b0f68dc5247c773dd6c3b3a0f44a64e9b1b
// (2026-06-29). bindsync's kinds keep kube-bind's kind names on purpose, so
// its plurals and singulars are the same in another group; its short names
// must be none of these.
var kubeBindNames = map[string][]string{
	"APIConversion":            {"apiconversions", "apiconversion"},
	"APIServiceBindingBundle":  {"apiservicebindingbundles", "apiservicebindingbundle", "sbb"},
	"APIServiceBinding":        {"apiservicebindings", "apiservicebinding", "sb"},
	"APIServiceExportRequest":  {"apiserviceexportrequests", "apiserviceexportrequest"},
	"APIServiceExport":         {"apiserviceexports", "apiserviceexport"},
	"APIServiceExportTemplate": {"apiserviceexporttemplates", "apiserviceexporttemplate"},
	"APIServiceNamespace":      {"apiservicenamespaces", "apiservicenamespace"},
	"BindableResourcesRequest": {"bindableresourcesrequests", "bindableresourcesrequest"},
	"BoundSchema":              {"boundschemas", "boundschema", "bs"},
	"ClusterBinding":           {"clusterbindings", "clusterbinding"},
	"Cluster":                  {"clusters", "cluster"},
	"Collection":               {"collections", "collection"},
}

// TestIntegrationShortNamesCollideWithNothing installs bindsync's CRDs and
// reads the API server's discovery (every group, every resource): each
// plural and short name of bindsync names one resource only, so
// `kubectl get <short name>` never lands on a built-in kind (the old short
// name `binding` was core Binding's singular: `kubectl get binding` answered
// 405) nor on kube-bind's.
func TestIntegrationShortNamesCollideWithNothing(t *testing.T) {
	t.Parallel()
	cp, _ := testenv.SharedPair(t)
	ctx := testContext(t)
	crdNames := installBindsyncCRDs(ctx, t, cp)

	dc, err := discovery.NewDiscoveryClientForConfig(cp.Config)
	require.NoError(t, err)
	var lists []*metav1.APIResourceList
	require.Eventually(t, func() bool {
		_, lists, err = dc.ServerGroupsAndResources()
		return err == nil && len(resourcesOf(lists, bindsyncv1alpha1.GroupName)) == len(crdNames)
	}, 30*time.Second, 200*time.Millisecond, "discovery serves a resource for each of bindsync's CRDs (last error: %v)", err)

	// Built-in groups: everything the server serves that no CRD defines
	// (other tests of the package install CRDs of their own).
	crdGroups := map[string]bool{}
	var crds apiextensionsv1.CustomResourceDefinitionList
	require.NoError(t, cp.Client.List(ctx, &crds))
	for _, crd := range crds.Items {
		crdGroups[crd.Spec.Group] = true
	}
	require.True(t, crdGroups[bindsyncv1alpha1.GroupName])

	builtin := map[string]string{} // name -> resource that has it
	groups := map[string]bool{}
	for _, l := range lists {
		gv, err := discoveryGroup(l.GroupVersion)
		require.NoError(t, err)
		if crdGroups[gv] {
			continue
		}
		groups[gv] = true
		where := gv
		if where == "" {
			where = "core"
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") {
				continue // subresource
			}
			for _, n := range append([]string{r.Name, r.SingularName, strings.ToLower(r.Kind)}, r.ShortNames...) {
				if n != "" {
					builtin[n] = r.Name + " (" + where + ")"
				}
			}
		}
	}
	require.Contains(t, groups, "", "discovery lists the core group")
	require.Contains(t, builtin, "bindings", "core Binding is served")

	kubeBind := map[string]string{}
	for kind, names := range kubeBindNames {
		for _, n := range names {
			kubeBind[n] = kind + ".kube-bind.io"
		}
	}

	ours := resourcesOf(lists, bindsyncv1alpha1.GroupName)
	seen := map[string]string{}
	for _, r := range ours {
		require.NotEmpty(t, r.ShortNames, "%s has a short name", r.Name)
		for _, n := range append([]string{r.Name, r.SingularName}, r.ShortNames...) {
			if other, ok := seen[n]; ok {
				t.Errorf("%q names both %s and %s in bindsync.io", n, other, r.Name)
			}
			seen[n] = r.Name
			if other, ok := builtin[n]; ok {
				t.Errorf("bindsync's %s uses %q, which is also %s on every Kubernetes API server", r.Name, n, other)
			}
		}
		for _, n := range r.ShortNames {
			if other, ok := kubeBind[n]; ok {
				t.Errorf("bindsync's %s has the short name %q, which is kube-bind's %s", r.Name, n, other)
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("bindsync's names: %s", strings.Join(names, " "))
}

// resourcesOf returns the top-level resources discovery lists for group.
func resourcesOf(lists []*metav1.APIResourceList, group string) []metav1.APIResource {
	var out []metav1.APIResource
	for _, l := range lists {
		if g, err := discoveryGroup(l.GroupVersion); err != nil || g != group {
			continue
		}
		for _, r := range l.APIResources {
			if !strings.Contains(r.Name, "/") {
				out = append(out, r)
			}
		}
	}
	return out
}

// discoveryGroup is the group of a discovery groupVersion ("v1" is core: "").
func discoveryGroup(groupVersion string) (string, error) {
	gv, err := schema.ParseGroupVersion(groupVersion)
	if err != nil {
		return "", fmt.Errorf("discovery group version %q: %w", groupVersion, err)
	}
	return gv.Group, nil
}
