package integration

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// TestIntegrationAgentBindingWithoutExport: a binding whose CRD the folder
// does not hold is ExportNotFound and nothing is applied.
func TestIntegrationAgentBindingWithoutExport(t *testing.T) {
	ctx, app := setupAgentTest(t)
	const cluster = "agent-noexport"
	present := testKind{plural: "things", kind: "Thing", group: "noexport.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	missing := testKind{plural: "absents", kind: "Absent", group: "noexport.agent.bindsync.test"}
	repo := newStateRepo(t)
	repo.commit(appFolder(cluster, []testKind{present}, nil))
	createBinding(ctx, t, app, missing.name(), "")
	ag := newTestAgent(t, app, repo, cluster)

	_, err := ag.Sync(ctx)
	require.NoError(t, err)
	b := getBinding(ctx, t, app, missing.name())
	ready := condition(b, v1alpha1.ReadyCondition)
	require.NotNil(t, ready)
	assert.Equal(t, metav1.ConditionFalse, ready.Status)
	assert.Equal(t, v1alpha1.ExportNotFoundReason, ready.Reason)
	for _, k := range []testKind{present, missing} {
		_, err := getCRD(ctx, t, app, k.name())
		assert.True(t, apierrors.IsNotFound(err), "%s: got %v", k.name(), err)
	}
}

// TestIntegrationAgentLeavesForeignCRD: a CRD bindsync did not create is
// never modified, even when git holds one of that name and it is bound.
func TestIntegrationAgentLeavesForeignCRD(t *testing.T) {
	ctx, app := setupAgentTest(t)
	const cluster = "agent-foreign"
	k := testKind{plural: "foreigns", kind: "Foreign", group: "foreign.agent.bindsync.test", fields: map[string]string{"git": "string"}}
	foreign := testKind{plural: k.plural, kind: k.kind, group: k.group, fields: map[string]string{"mine": "string"}}
	objs, err := testenvDecode(foreign.crdFile())
	require.NoError(t, err)
	require.NoError(t, app.ApplyObjects(ctx, objs))
	before, err := getCRD(ctx, t, app, k.name())
	require.NoError(t, err)

	repo := newStateRepo(t)
	repo.commit(appFolder(cluster, []testKind{k}, nil))
	createBinding(ctx, t, app, k.name(), "")
	ag := newTestAgent(t, app, repo, cluster)
	_, err = ag.Sync(ctx)
	require.Error(t, err)

	after, err := getCRD(ctx, t, app, k.name())
	require.NoError(t, err)
	assert.Equal(t, before.ResourceVersion, after.ResourceVersion, "the foreign CRD is untouched")
	b := getBinding(ctx, t, app, k.name())
	assert.Equal(t, v1alpha1.ForeignCRDReason, condition(b, v1alpha1.ReadyCondition).Reason)
	stalled := condition(b, v1alpha1.StalledCondition)
	require.NotNil(t, stalled, "a foreign CRD needs a human")
	assert.Equal(t, metav1.ConditionTrue, stalled.Status)
}

// TestIntegrationAgentRefuses places, one at a time, what the agent must
// never apply in the cluster's folder next to a bound CRD: other kinds are
// refused and reported while the bound CRD is applied; a kustomization that
// reaches outside the folder fails the build, and nothing is applied.
func TestIntegrationAgentRefuses(t *testing.T) {
	ctx, app := setupAgentTest(t)
	tests := []struct {
		name  string
		extra map[string]string
		// kustomization replaces the folder's kustomization.yaml.
		kustomization string
		other         map[string]string // files outside the folder
		refused       string            // the refused object, when the build succeeds
		buildFails    bool
	}{
		{name: "a ClusterRoleBinding", refused: "ClusterRoleBinding.rbac.authorization.k8s.io refuse-crb-admin",
			extra: map[string]string{"crb.yaml": "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: refuse-crb-admin}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}\nsubjects: [{kind: User, name: mallory, apiGroup: rbac.authorization.k8s.io}]\n"}},
		{name: "a Namespace", refused: "Namespace refuse-ns",
			extra: map[string]string{"ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: refuse-ns}\n"}},
		{name: "a kustomization pointing at another cluster's folder", buildFails: true,
			kustomization: "resources:\n- ../../other-cluster/app\n",
			other:         map[string]string{"clusters/other-cluster/app/kustomization.yaml": "resources: []\n"}},
		{name: "a kustomization with an absolute path", buildFails: true, kustomization: "resources:\n- /etc/passwd\n"},
		{name: "a kustomization with a remote base", buildFails: true, kustomization: "resources:\n- https://github.com/example/repo//base?ref=main\n"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cluster := "agent-refuse-" + string(rune('a'+i))
			k := testKind{plural: "bounds", kind: "Bound", group: cluster + ".agent.bindsync.test", fields: map[string]string{"a": "string"}}
			files := appFolder(cluster, []testKind{k}, tt.extra)
			if tt.kustomization != "" {
				files[staterepo.AppDir(cluster)+"/kustomization.yaml"] = tt.kustomization
			}
			for p, c := range tt.other {
				files[p] = c
			}
			repo := newStateRepo(t)
			repo.commit(files)
			createBinding(ctx, t, app, k.name(), "")
			defer deleteBindingNow(ctx, t, app, k.name())
			ag := newTestAgent(t, app, repo, cluster)
			res, err := ag.Sync(ctx)
			b := getBinding(ctx, t, app, k.name())

			if tt.buildFails {
				require.Error(t, err)
				assert.Equal(t, v1alpha1.BuildFailedReason, condition(b, v1alpha1.ReadyCondition).Reason)
				_, err := getCRD(ctx, t, app, k.name())
				assert.True(t, apierrors.IsNotFound(err), "nothing applied: %v", err)
				return
			}
			require.NoError(t, err)
			require.Len(t, res.Refused, 1)
			assert.Equal(t, tt.refused, res.Refused[0].Ref.String())
			assert.Contains(t, <-ag.events.Events, tt.refused)
			assert.Equal(t, v1alpha1.SucceededReason, condition(b, v1alpha1.ReadyCondition).Reason, "the bound CRD is still applied")
			switch res.Refused[0].Ref.Kind {
			case "Namespace":
				err = app.Client.Get(ctx, client.ObjectKey{Name: res.Refused[0].Ref.Name}, &corev1Namespace{})
			default:
				err = app.Client.Get(ctx, client.ObjectKey{Name: res.Refused[0].Ref.Name}, &rbacv1ClusterRoleBinding{})
			}
			assert.True(t, apierrors.IsNotFound(err), "%s not applied: %v", tt.refused, err)
		})
	}
}

// TestIntegrationAgentSourceUnavailable: when the remote cannot be read the
// binding says SourceUnavailable and what was applied stays; it recovers
// when the remote is back.
func TestIntegrationAgentSourceUnavailable(t *testing.T) {
	ctx, app := setupAgentTest(t)
	const cluster = "agent-unavailable"
	k := testKind{plural: "stays", kind: "Stay", group: "unavailable.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	repo := newStateRepo(t)
	rev := repo.commit(appFolder(cluster, []testKind{k}, nil))
	createBinding(ctx, t, app, k.name(), "")
	ag := newTestAgent(t, app, repo, cluster)
	_, err := ag.Sync(ctx)
	require.NoError(t, err)

	moved := repo.dir + ".away"
	require.NoError(t, os.Rename(repo.dir, moved))
	_, err = ag.Sync(ctx)
	require.Error(t, err)
	b := getBinding(ctx, t, app, k.name())
	ready := condition(b, v1alpha1.ReadyCondition)
	assert.Equal(t, metav1.ConditionFalse, ready.Status)
	assert.Equal(t, v1alpha1.SourceUnavailableReason, ready.Reason)
	assert.Equal(t, rev, b.Status.LastAppliedRevision, "the last applied revision is kept")
	crd, err := getCRD(ctx, t, app, k.name())
	require.NoError(t, err, "nothing removed")
	assert.Equal(t, cluster, crd.Labels[v1alpha1.ClusterLabel], "still managed")

	require.NoError(t, os.Rename(moved, repo.dir))
	_, err = ag.Sync(ctx)
	require.NoError(t, err)
	b = getBinding(ctx, t, app, k.name())
	assert.Equal(t, metav1.ConditionTrue, condition(b, v1alpha1.ReadyCondition).Status, "recovers")
}
