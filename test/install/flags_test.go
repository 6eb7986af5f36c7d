package install_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bindsync/bindsync/internal/cli/app"
)

// TestInstallArgsAreFlagsOfTheBinary: every container argument the charts
// and the kustomize bases give bindsync is a flag its command knows, under
// its current name (a deprecated alias prints a warning, and fails here),
// so a shipped manifest never starts a Pod that exits on its own flags.
func TestInstallArgsAreFlagsOfTheBinary(t *testing.T) {
	for _, tc := range []struct {
		name string
		objs func(t *testing.T) []*unstructured.Unstructured
	}{
		{"chart bindsync-agent, every option", func(t *testing.T) []*unstructured.Unstructured {
			objs, _ := renderChart(t, "bindsync-agent", agentAllOn)
			return objs
		}},
		{"chart bindsync-control-plane, every option", func(t *testing.T) []*unstructured.Unstructured {
			objs, _ := renderChart(t, "bindsync-control-plane", backendAllOn)
			return objs
		}},
		{"kustomize agent, every component", func(t *testing.T) []*unstructured.Unstructured {
			return buildKustomize(t, overlay(t, "agent", agentComponents...))
		}},
		{"kustomize backend, every component", func(t *testing.T) []*unstructured.Unstructured {
			return buildKustomize(t, overlay(t, "backend", backendComponents...))
		}},
		{"config/app-cluster", func(t *testing.T) []*unstructured.Unstructured {
			return buildKustomize(t, repoPath(t, "config", "app-cluster"))
		}},
		{"config/control-plane", func(t *testing.T) []*unstructured.Unstructured {
			return buildKustomize(t, repoPath(t, "config", "control-plane"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checked := 0
			for _, o := range tc.objs(t) {
				if o.GetKind() != "Deployment" {
					continue
				}
				containers, _, err := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
				require.NoError(t, err)
				for _, c := range containers {
					args, _, err := unstructured.NestedStringSlice(c.(map[string]any), "args")
					require.NoError(t, err)
					require.NotEmpty(t, args, "%s: the container names bindsync's command", o.GetName())
					var out bytes.Buffer
					root := app.NewRootCommand(&out, &out)
					cmd, rest, err := root.Find(args)
					require.NoError(t, err, "%s: %v", o.GetName(), args)
					require.Equal(t, args[0], cmd.Name(), "%s: the first argument is a command of bindsync", o.GetName())
					cmd.SetOut(&out)
					cmd.SetErr(&out)
					cmd.Flags().SetOutput(&out)
					require.NoError(t, cmd.ParseFlags(rest), "%s: bindsync %s refuses the shipped arguments %v", o.GetName(), cmd.Name(), rest)
					assert.Empty(t, cmd.Flags().Args(), "%s: arguments that are not flags", o.GetName())
					assert.False(t, strings.Contains(out.String(), "deprecated"), "%s: a shipped argument is deprecated: %s", o.GetName(), out.String())
					checked++
				}
			}
			assert.Positive(t, checked, "a Deployment runs bindsync")
		})
	}
}
