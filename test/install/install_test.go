// Package install_test keeps the two ways to install bindsync, the Helm
// charts in charts/ and the kustomize bases in config/, from drifting apart:
// it renders each chart with Helm's Go library, builds the matching
// kustomize overlay, compares the two object by object, and applies both
// server-side to test API servers.
//
// It is a module of its own (test/install/go.mod): Helm's dependencies would
// move versions of bindsync's own (the OpenPGP and crypto modules its
// signing uses) if they were in the main module. `make test` runs it.
package install_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/kustomize/api/krusty"
	ktypes "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	bsapply "github.com/bindsync/bindsync/internal/apply"
	"github.com/bindsync/bindsync/internal/testenv"
	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// namespace is the release namespace; config/ installs into the same one.
const namespace = "bindsync-system"

// The values config/agent and config/backend carry in their ConfigMaps and
// image, so that a chart rendered with them must equal the kustomize build.
var (
	agentBase = map[string]any{
		"cluster": "CLUSTER-NAME", "repo": "https://git.example.com/platform/state.git",
		"image": map[string]any{"tag": "latest"},
	}
	backendBase = map[string]any{
		"repo":  "https://git.example.com/platform/state.git",
		"image": map[string]any{"tag": "latest"},
	}
	// Every optional value on: each matches one component of config/.
	agentAllOn = merged(agentBase, map[string]any{
		"gitCredentials": on(), "reportBack": on(), "webhook": on(), "verifyKeys": on(), "claims": on(),
		"logLevel": "debug", "logFormat": "console",
	})
	backendAllOn = merged(backendBase, map[string]any{
		"gitCredentials": on(), "signing": on(), "clusterScopedBinds": on(),
		"logLevel": "debug", "logFormat": "console",
	})
)

// The components equivalent to the all-on values, in the order the charts
// add their flags and volumes.
var (
	agentComponents   = []string{"agent/git-credentials", "agent/report-back", "agent/webhook", "agent/verify-keys", "agent/claims"}
	backendComponents = []string{"backend/git-credentials", "backend/signing", "backend/cluster-scoped-binds"}
	// The flags of values that have no kustomize component (the binary's
	// defaults stand there).
	logFlags = []string{"--log-level=debug", "--log-format=console"}
)

// TestInstallChartsMatchKustomize renders each chart with its default
// values and with every optional value on, and compares it with the
// kustomize build of the matching base and components: the same objects
// (kind, namespace, name) with the same content, container args included.
func TestInstallChartsMatchKustomize(t *testing.T) {
	for _, tc := range []struct {
		name       string
		chart      string
		values     map[string]any
		kustomize  string
		extraFlags []string
	}{
		{"agent, default values", "bindsync-agent", agentBase, overlay(t, "agent"), nil},
		{"agent, every option", "bindsync-agent", agentAllOn, overlay(t, "agent", agentComponents...), logFlags},
		{"agent, as config/app-cluster", "bindsync-agent",
			merged(agentBase, map[string]any{"gitCredentials": on(), "reportBack": on(), "webhook": on()}),
			repoPath(t, "config", "app-cluster"), nil},
		{"control plane, default values", "bindsync-control-plane", backendBase, overlay(t, "backend"), nil},
		{"control plane, every option", "bindsync-control-plane", backendAllOn, overlay(t, "backend", backendComponents...), logFlags},
		{"control plane, as config/control-plane", "bindsync-control-plane",
			merged(backendBase, map[string]any{"gitCredentials": on()}),
			repoPath(t, "config", "control-plane"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			chartObjs, _ := renderChart(t, tc.chart, tc.values)
			built := buildKustomize(t, tc.kustomize)
			if len(tc.extraFlags) > 0 {
				removeArgs(t, chartObjs, tc.extraFlags)
			}
			want := byKey(t, normalize(t, withoutKinds(built, "Namespace", "CustomResourceDefinition")))
			got := byKey(t, normalize(t, chartObjs))
			assert.Equal(t, sortedKeys(want), sortedKeys(got), "the chart renders the objects kustomize builds")
			for k, w := range want {
				if g, ok := got[k]; ok {
					assert.Equal(t, w, g, "%s: the chart and kustomize differ", k)
				}
			}
		})
	}
}

// TestInstallChartCRDsAreConfigCRDs: the charts' crds/ are the generated
// CRDs of config/crd (`make generate` copies them): APIServiceBinding in the
// agent's chart, every other kind in the control plane's.
func TestInstallChartCRDsAreConfigCRDs(t *testing.T) {
	generated, err := filepath.Glob(repoPath(t, "config", "crd", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, generated)
	want := map[string][]string{}
	for _, f := range generated {
		chart := "bindsync-control-plane"
		if filepath.Base(f) == "bindsync.io_apiservicebindings.yaml" {
			chart = "bindsync-agent"
		}
		want[chart] = append(want[chart], filepath.Base(f))
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		copied, err := os.ReadFile(repoPath(t, "charts", chart, "crds", filepath.Base(f)))
		if assert.NoError(t, err, "charts/%s/crds holds %s: run make generate", chart, filepath.Base(f)) {
			assert.Equal(t, string(data), string(copied), "charts/%s/crds/%s differs from config/crd: run make generate", chart, filepath.Base(f))
		}
	}
	for chart, files := range want {
		entries, err := os.ReadDir(repoPath(t, "charts", chart, "crds"))
		require.NoError(t, err)
		var have []string
		for _, e := range entries {
			have = append(have, e.Name())
		}
		assert.ElementsMatch(t, files, have, "charts/%s/crds holds exactly its CRDs of config/crd", chart)
		values := backendBase
		if chart == "bindsync-agent" {
			values = agentBase
		}
		_, crds := renderChart(t, chart, values)
		assert.Len(t, crds, len(files), "Helm loads charts/%s/crds", chart)
	}
}

// TestInstallOptionalSecrets: an install without the optional pieces mounts
// no Secret at all (an agent without a webhook needs no webhook Secret), and
// each piece adds exactly its own, in the chart and in kustomize alike.
func TestInstallOptionalSecrets(t *testing.T) {
	for _, tc := range []struct {
		name    string
		objs    []*unstructured.Unstructured
		secrets []string
	}{
		{"config/agent", buildKustomize(t, overlay(t, "agent")), nil},
		{"config/backend", buildKustomize(t, overlay(t, "backend")), nil},
		{"bindsync-agent chart, default values", first(renderChart(t, "bindsync-agent", agentBase)), nil},
		{"bindsync-control-plane chart, default values", first(renderChart(t, "bindsync-control-plane", backendBase)), nil},
		{"config/agent with the webhook component", buildKustomize(t, overlay(t, "agent", "agent/webhook")),
			[]string{"bindsync-agent-webhook"}},
		{"bindsync-agent chart, webhook.enabled", first(renderChart(t, "bindsync-agent",
			merged(agentBase, map[string]any{"webhook": on()}))), []string{"bindsync-agent-webhook"}},
		{"config/app-cluster", buildKustomize(t, repoPath(t, "config", "app-cluster")),
			[]string{"bindsync-agent-control-plane", "bindsync-agent-git", "bindsync-agent-webhook"}},
		{"config/control-plane", buildKustomize(t, repoPath(t, "config", "control-plane")), []string{"bindsync-backend-git"}},
		{"bindsync-control-plane chart, every option", first(renderChart(t, "bindsync-control-plane", backendAllOn)),
			[]string{"bindsync-backend-git", "bindsync-backend-signing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.secrets, secretVolumes(t, tc.objs))
		})
	}
}

// TestInstallChartValuesRequired: a chart missing a required value, or
// given one its schema refuses (a misspelt key too), fails with a message
// naming it, and renders nothing.
func TestInstallChartValuesRequired(t *testing.T) {
	for _, tc := range []struct {
		chart  string
		values map[string]any
		want   string
	}{
		{"bindsync-agent", map[string]any{"repo": "https://example.com/s.git"}, "bindsync-agent: set cluster"},
		{"bindsync-agent", map[string]any{"cluster": "team-a"}, "bindsync-agent: set repo"},
		{"bindsync-control-plane", map[string]any{}, "bindsync-control-plane: set repo"},
		// values.schema.json: a value the binary would refuse is refused here.
		{"bindsync-agent", merged(agentBase, map[string]any{"logFormat": "yaml"}), "logFormat"},
		{"bindsync-control-plane", merged(backendBase, map[string]any{"signing": map[string]any{"enabled": true, "format": "pem"}}), "format"},
		{"bindsync-agent", merged(agentBase, map[string]any{"webhok": on()}), "webhok"},
	} {
		_, err := renderChartErr(tc.chart, tc.values)
		require.Error(t, err, "%s with %v", tc.chart, tc.values)
		assert.Contains(t, err.Error(), tc.want)
	}
}

// TestInstallApplyIntegration applies both charts and the kustomize builds
// server-side to a control plane and an app cluster: default values, then
// every option, then the kustomize builds over them (the same objects, so
// they take them over without a conflict). None draws a warning from the
// API server (Pod Security "restricted" in bindsync-system). As the charts'
// ServiceAccounts, neither component may read a Secret.
func TestInstallApplyIntegration(t *testing.T) {
	cp, app := testenv.SharedPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	nsObj := buildKustomize(t, repoPath(t, "config", "app-cluster"))
	nsObj = slices.DeleteFunc(nsObj, func(o *unstructured.Unstructured) bool { return o.GetKind() != "Namespace" })
	require.Len(t, nsObj, 1)
	for _, tc := range []struct {
		cluster    *testenv.Cluster
		chart      string
		base, all  map[string]any
		kustomized []*unstructured.Unstructured
		sa         string
	}{
		{cp, "bindsync-control-plane", backendBase, backendAllOn,
			buildKustomize(t, overlay(t, "backend", backendComponents...)), "bindsync-backend"},
		{app, "bindsync-agent", agentBase, agentAllOn,
			buildKustomize(t, overlay(t, "agent", agentComponents...)), "bindsync-agent"},
	} {
		t.Run(tc.chart, func(t *testing.T) {
			assert.Empty(t, apply(ctx, t, tc.cluster, nsObj))
			objs, crds := renderChart(t, tc.chart, tc.base)
			assert.Empty(t, apply(ctx, t, tc.cluster, append(crds, objs...)), "warnings for %s with default values", tc.chart)

			// The chart's RBAC is in force: its ServiceAccount lists CRDs
			// (both components watch them), and reads no Secret.
			as, err := tc.cluster.Impersonate(namespace, tc.sa)
			require.NoError(t, err)
			crdList := &unstructured.UnstructuredList{}
			crdList.SetAPIVersion("apiextensions.k8s.io/v1")
			crdList.SetKind("CustomResourceDefinitionList")
			require.NoError(t, as.List(ctx, crdList), "as %s, list CRDs", tc.sa)
			assert.NotEmpty(t, crdList.Items, "the chart's CRDs are installed")
			err = as.List(ctx, &corev1.SecretList{}, client.InNamespace(namespace))
			assert.Truef(t, apierrors.IsForbidden(err), "%s lists Secrets: want 403, got %v", tc.sa, err)

			objs, _ = renderChart(t, tc.chart, tc.all)
			assert.Empty(t, apply(ctx, t, tc.cluster, objs), "warnings for %s with every option", tc.chart)
			assert.Empty(t, apply(ctx, t, tc.cluster, tc.kustomized), "warnings for the kustomize build of %s", tc.chart)
		})
	}
}

// renderChart renders charts/<name> as `helm template` does, with the
// release named bindsync in bindsync-system: the objects of its templates,
// and the CRDs of its crds/ folder.
func renderChart(t *testing.T, name string, values map[string]any) (objs, crds []*unstructured.Unstructured) {
	t.Helper()
	out, err := renderChartErr(name, values)
	require.NoError(t, err)
	return out[0], out[1]
}

func renderChartErr(name string, values map[string]any) ([2][]*unstructured.Unstructured, error) {
	var out [2][]*unstructured.Unstructured
	root, err := repoRoot()
	if err != nil {
		return out, err
	}
	ch, err := loader.LoadDir(filepath.Join(root, "charts", name))
	if err != nil {
		return out, fmt.Errorf("load chart %s: %w", name, err)
	}
	vals, err := util.ToRenderValues(ch, values, common.ReleaseOptions{Name: "bindsync", Namespace: namespace, IsInstall: true}, nil)
	if err != nil {
		return out, fmt.Errorf("values of chart %s: %w", name, err)
	}
	files, err := engine.Render(ch, vals)
	if err != nil {
		return out, fmt.Errorf("render chart %s: %w", name, err)
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if !strings.HasSuffix(p, ".yaml") {
			continue
		}
		docs, err := decodeYAML([]byte(files[p]))
		if err != nil {
			return out, fmt.Errorf("chart %s: %s: %w", name, p, err)
		}
		out[0] = append(out[0], docs...)
	}
	for _, crd := range ch.CRDObjects() {
		docs, err := decodeYAML(crd.File.Data)
		if err != nil {
			return out, fmt.Errorf("chart %s: %s: %w", name, crd.Filename, err)
		}
		out[1] = append(out[1], docs...)
	}
	bsapply.Sort(out[0])
	return out, nil
}

// decodeYAML reads a stream of YAML documents, skipping empty ones.
func decodeYAML(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, err
		}
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(js)) == 0 || string(bytes.TrimSpace(js)) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return nil, err
		}
		objs = append(objs, u)
	}
}

// overlay writes a kustomization holding config/<base> and the components
// config/<components...>, as docs/install.md tells an operator to.
func overlay(t *testing.T, base string, components ...string) string {
	t.Helper()
	dir := t.TempDir()
	rel := func(p string) string {
		r, err := filepath.Rel(dir, repoPath(t, "config", p))
		require.NoError(t, err)
		return r
	}
	var b strings.Builder
	fmt.Fprintf(&b, "resources:\n- %s\n", rel(base))
	if len(components) > 0 {
		b.WriteString("components:\n")
		for _, c := range components {
			fmt.Fprintf(&b, "- %s\n", rel(c))
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(b.String()), 0o600))
	return dir
}

// kustomizeMu: kustomize keeps global state that parallel builds race on.
var kustomizeMu sync.Mutex

// buildKustomize builds dir as `kubectl kustomize` does (no plugins; config/
// overlays reach sibling folders, which internal/kustomize refuses).
func buildKustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	kustomizeMu.Lock()
	defer kustomizeMu.Unlock()
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
	bsapply.Sort(objs)
	return objs
}

// Labels Helm adds to every object, and the checksum annotation that rolls
// the chart's pods when their ConfigMap changes (kustomize's name suffix
// does that): what may differ between a chart and a kustomize build.
var (
	helmLabels      = []string{"app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "app.kubernetes.io/version", "helm.sh/chart"}
	generatedSuffix = regexp.MustCompile(`"(bindsync-(?:agent|backend))-[a-z0-9]{10}"`)
)

func normalize(t *testing.T, objs []*unstructured.Unstructured) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	for _, o := range objs {
		o = o.DeepCopy()
		labels := o.GetLabels()
		for _, l := range helmLabels {
			delete(labels, l)
		}
		o.SetLabels(labels)
		if o.GetKind() == "Deployment" {
			unstructured.RemoveNestedField(o.Object, "spec", "template", "metadata", "annotations", "checksum/config")
			if a, _, _ := unstructured.NestedMap(o.Object, "spec", "template", "metadata", "annotations"); len(a) == 0 {
				unstructured.RemoveNestedField(o.Object, "spec", "template", "metadata", "annotations")
			}
		}
		data, err := o.MarshalJSON()
		require.NoError(t, err)
		data = generatedSuffix.ReplaceAll(data, []byte(`"$1"`))
		u := &unstructured.Unstructured{}
		require.NoError(t, u.UnmarshalJSON(data))
		out = append(out, u)
	}
	return out
}

// removeArgs drops flags from the one Deployment's container after checking
// they are there.
func removeArgs(t *testing.T, objs []*unstructured.Unstructured, flags []string) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		containers, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		require.NoError(t, err)
		c := containers[0].(map[string]any)
		args, _, err := unstructured.NestedStringSlice(c, "args")
		require.NoError(t, err)
		for _, f := range flags {
			require.Contains(t, args, f, "the chart passes %s", f)
			args = slices.DeleteFunc(args, func(a string) bool { return a == f })
		}
		require.NoError(t, unstructured.SetNestedStringSlice(c, args, "args"))
		require.NoError(t, unstructured.SetNestedSlice(o.Object, containers, "spec", "template", "spec", "containers"))
	}
}

// secretVolumes lists the Secrets the one Deployment of objs mounts.
func secretVolumes(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	var names []string
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		vols, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
		require.NoError(t, err)
		for _, v := range vols {
			if name, ok, _ := unstructured.NestedString(v.(map[string]any), "secret", "secretName"); ok {
				names = append(names, name)
			}
		}
	}
	sort.Strings(names)
	return names
}

func byKey(t *testing.T, objs []*unstructured.Unstructured) map[string]*unstructured.Unstructured {
	t.Helper()
	m := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		k := o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
		require.NotContains(t, m, k, "%s twice", k)
		m[k] = o
	}
	return m
}

func sortedKeys(m map[string]*unstructured.Unstructured) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func withoutKinds(objs []*unstructured.Unstructured, kinds ...string) []*unstructured.Unstructured {
	return slices.DeleteFunc(slices.Clone(objs), func(o *unstructured.Unstructured) bool { return slices.Contains(kinds, o.GetKind()) })
}

// apply server-side applies objs as an administrator, in apply.Sort's
// order, and returns the warnings the API server sent back.
func apply(ctx context.Context, t *testing.T, c *testenv.Cluster, objs []*unstructured.Unstructured) []string {
	t.Helper()
	objs = slices.Clone(objs)
	bsapply.Sort(objs)
	warnings, err := c.ApplyWithWarnings(ctx, objs)
	require.NoError(t, err)
	return warnings
}

func on() map[string]any { return map[string]any{"enabled": true} }

func merged(a, b map[string]any) map[string]any {
	m := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

func first[T any](a, _ T) T { return a }

// repoRoot is bindsync's root folder: two up from this module's.
func repoRoot() (string, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "charts")); err != nil {
		return "", fmt.Errorf("bindsync's root folder: %w", err)
	}
	return root, nil
}

func repoPath(t *testing.T, elem ...string) string {
	t.Helper()
	root, err := repoRoot()
	require.NoError(t, err)
	return filepath.Join(append([]string{root}, elem...)...)
}
