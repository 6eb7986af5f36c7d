package integration

import (
	"context"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/testenv"
)

// requireManagedWith checks that the CRD is bindsync's again, with the
// schema fields of k, and that the binding is Ready with k's hash.
func requireManagedWith(ctx context.Context, t *testing.T, app *testenv.Cluster, cluster string, k testKind) {
	t.Helper()
	crd, err := getCRD(ctx, t, app, k.name())
	require.NoError(t, err)
	assert.Equal(t, map[string]string{v1alpha1.ManagedLabel: "true", v1alpha1.ClusterLabel: cluster}, crd.Labels)
	assert.NotContains(t, crd.Annotations, v1alpha1.ReleasedAnnotation, "the release marker goes when the CRD is taken back")
	assert.Equal(t, k.hash(), crd.Annotations[v1alpha1.SchemaHashAnnotation])
	var want []string
	for f := range k.fields {
		want = append(want, f)
	}
	assert.ElementsMatch(t, want, keysOf(crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties))
	b := getBinding(ctx, t, app, k.name())
	ready := condition(b, v1alpha1.ReadyCondition)
	require.NotNil(t, ready)
	assert.Equal(t, metav1.ConditionTrue, ready.Status, ready.Message)
	assert.Equal(t, k.hash(), b.Status.BoundSchemaHash)
}

// TestIntegrationAgentTakesBackReleasedCRD: a CRD the agent released (its
// export left the folder for a revision; its binding deleted with
// deletionPolicy Orphan and created again, as GitOps tools replace objects)
// carries the release marker, and is taken back, with the schema git holds
// now, when it is bound and exported again, instead of staying ForeignCRD
// for ever. A CRD released by another cluster stays foreign.
func TestIntegrationAgentTakesBackReleasedCRD(t *testing.T) {
	ctx, app := setupAgentTest(t)
	const cluster = "agent-takeback"
	k := testKind{plural: "returns", kind: "Return", group: "takeback.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	other := testKind{plural: "stays", kind: "Stay", group: "takeback.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	repo := newStateRepo(t)
	repo.commit(appFolder(cluster, []testKind{k, other}, nil))
	createBinding(ctx, t, app, k.name(), "")
	createBinding(ctx, t, app, other.name(), "")
	ag := newTestAgent(t, app, repo, cluster)
	_, err := ag.Sync(ctx)
	require.NoError(t, err)
	requireManagedWith(ctx, t, app, cluster, k)

	t.Run("one revision without the export, then back with a new field", func(t *testing.T) {
		repo.commit(appFolder(cluster, []testKind{other}, nil))
		res, err := ag.Sync(ctx)
		require.NoError(t, err)
		require.Len(t, res.Released.Orphaned, 1)
		crd, err := getCRD(ctx, t, app, k.name())
		require.NoError(t, err)
		assert.NotContains(t, crd.Labels, v1alpha1.ManagedLabel)
		assert.Equal(t, cluster, crd.Annotations[v1alpha1.ReleasedAnnotation])

		k.fields = map[string]string{"a": "string", "b": "integer"}
		repo.commit(appFolder(cluster, []testKind{k, other}, nil))
		_, err = ag.Sync(ctx)
		require.NoError(t, err)
		requireManagedWith(ctx, t, app, cluster, k)
	})

	t.Run("binding deleted with deletionPolicy Orphan and created again", func(t *testing.T) {
		inst, err := testenvDecode("apiVersion: " + k.group + "/v1\nkind: " + k.kind + "\nmetadata: {name: kept, namespace: default}\nspec: {a: x}\n")
		require.NoError(t, err)
		require.NoError(t, app.ApplyObjects(ctx, inst))
		require.NoError(t, app.Client.Delete(ctx, getBinding(ctx, t, app, k.name())))
		_, err = ag.Sync(ctx)
		require.NoError(t, err)
		crd, err := getCRD(ctx, t, app, k.name())
		require.NoError(t, err)
		assert.Equal(t, cluster, crd.Annotations[v1alpha1.ReleasedAnnotation])
		require.Eventually(t, func() bool {
			return app.Client.Get(ctx, clientKey(k.name()), &v1alpha1.APIServiceBinding{}) != nil
		}, 10*time.Second, 100*time.Millisecond, "the binding goes once released")

		createBinding(ctx, t, app, k.name(), "")
		_, err = ag.Sync(ctx)
		require.NoError(t, err)
		requireManagedWith(ctx, t, app, cluster, k)
		assert.NoError(t, getObject(ctx, app, inst[0]), "the instance is kept throughout")
	})

	t.Run("a CRD released by another cluster stays foreign", func(t *testing.T) {
		repo.commit(appFolder(cluster, []testKind{k}, nil))
		_, err := ag.Sync(ctx)
		require.NoError(t, err)
		crd, err := getCRD(ctx, t, app, other.name())
		require.NoError(t, err)
		crd.Annotations[v1alpha1.ReleasedAnnotation] = "someone-else"
		require.NoError(t, app.Client.Update(ctx, crd))

		repo.commit(appFolder(cluster, []testKind{k, other}, nil))
		_, err = ag.Sync(ctx)
		require.Error(t, err)
		assert.Equal(t, v1alpha1.ForeignCRDReason, condition(getBinding(ctx, t, app, other.name()), v1alpha1.ReadyCondition).Reason)
	})
}

// TestIntegrationAgentSchemaRollback: a breaking change that reaches the
// agent without the backend's check — a revert of a schema commit, a
// force-push to an older head — is not applied: the live CRD keeps its
// schema and the binding says SchemaRollback (Stalled) with what breaks and
// how to approve. A commit that approves it (the trailers the backend
// writes for a breaking change) rolls it out, also when later commits came
// on top before the agent looked.
func TestIntegrationAgentSchemaRollback(t *testing.T) {
	ctx, app := setupAgentTest(t)
	const cluster = "agent-rollback"
	v1 := testKind{plural: "dials", kind: "Dial", group: "rollback.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	v2 := v1
	v2.fields = map[string]string{"a": "string", "b": "integer"}
	filler := testKind{plural: "fillers", kind: "Filler", group: "rollback.agent.bindsync.test", fields: map[string]string{"a": "string"}}
	repo := newStateRepo(t)
	first := repo.commitMessage(appFolder(cluster, []testKind{v1}, nil), nil,
		"bind: "+cluster+" <- dials\n\nBindsync-Cluster: "+cluster+"\nBindsync-Schema-Hash: "+v1.name()+"="+v1.hash()+"\n")
	createBinding(ctx, t, app, v1.name(), "")
	ag := newTestAgent(t, app, repo, cluster)
	_, err := ag.Sync(ctx)
	require.NoError(t, err)

	repo.commitMessage(appFolder(cluster, []testKind{v2}, nil), nil,
		"schema: "+v1.name()+" (non-breaking)\n\nBindsync-Schema-Hash: "+v1.name()+"="+v2.hash()+"\nBindsync-Compat: non-breaking\n")
	_, err = ag.Sync(ctx)
	require.NoError(t, err)
	requireManagedWith(ctx, t, app, cluster, v2)

	refused := func(t *testing.T) {
		t.Helper()
		b := getBinding(ctx, t, app, v1.name())
		ready := condition(b, v1alpha1.ReadyCondition)
		require.NotNil(t, ready)
		assert.Equal(t, metav1.ConditionFalse, ready.Status)
		assert.Equal(t, v1alpha1.SchemaRollbackReason, ready.Reason)
		assert.Contains(t, ready.Message, "Bindsync-Compat: breaking")
		assert.Contains(t, ready.Message, v1.name()+"="+v1.hash(), "says which trailer approves it")
		stalled := condition(b, v1alpha1.StalledCondition)
		require.NotNil(t, stalled)
		assert.Equal(t, metav1.ConditionTrue, stalled.Status)
		crd, err := getCRD(ctx, t, app, v1.name())
		require.NoError(t, err)
		assert.Equal(t, v2.hash(), crd.Annotations[v1alpha1.SchemaHashAnnotation], "the live CRD keeps its schema")
		assert.Contains(t, crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties, "b")
	}

	t.Run("a revert of the schema commit is refused", func(t *testing.T) {
		repo.commitMessage(appFolder(cluster, []testKind{v1}, nil), nil, "Revert \"schema: "+v1.name()+"\"\n\nThis reverts the schema commit.\n")
		_, err := ag.Sync(ctx)
		require.NoError(t, err, "a refusal is the binding's, not a failed pass")
		refused(t)
	})

	t.Run("a force-push to an older head is refused", func(t *testing.T) {
		require.NoError(t, repo.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName("main"), plumbing.NewHash(first[len("main@sha1:"):]))))
		_, err := ag.Sync(ctx)
		require.NoError(t, err)
		refused(t)
	})

	t.Run("an approving commit, even under a later one, rolls it out", func(t *testing.T) {
		repo.commitMessage(appFolder(cluster, []testKind{v1}, nil), nil,
			"schema: roll "+v1.name()+" back\n\nBindsync-Schema-Hash: "+v1.name()+"="+v1.hash()+"\nBindsync-Compat: breaking: field-removed\n")
		repo.commitMessage(appFolder(cluster, []testKind{v1, filler}, nil), nil, "unrelated: a file for nobody\n")
		_, err := ag.Sync(ctx)
		require.NoError(t, err)
		requireManagedWith(ctx, t, app, cluster, v1)
	})
}
