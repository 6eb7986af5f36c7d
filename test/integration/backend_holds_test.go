package integration

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/testenv"
)

// Issue 13 item 2, on a real API server: an app cluster's ServiceAccount
// creates a second request for a template its cluster already binds, then
// the platform team removes the template's Secrets claim. The duplicate
// freezes nothing: the claim is revoked on the control plane, which the
// API server proves by refusing the cluster's ServiceAccount (403), and the
// duplicate says why it renders nothing.
func TestIntegrationBackendADuplicateRequestFreezesNothing(t *testing.T) {
	cp := startBackendControlPlane(t)
	e := newBackendEnv(t, cp)
	ctx := context.Background()
	const cluster, tplName = "holds-a", "pg-claims"
	ns := v1alpha1.ClusterNamespace(cluster)
	e.create(&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster}})
	e.create(&v1alpha1.APIServiceExportTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: tplName},
		Spec: v1alpha1.APIServiceExportTemplateSpec{
			Resources: []v1alpha1.GroupResource{{Group: "anynines.com", Resource: "postgresqlinstances"}},
			PermissionClaims: []v1alpha1.PermissionClaim{
				{GroupResource: v1alpha1.GroupResource{Resource: "secrets"}, Verbs: []v1alpha1.Verb{"get", "list"}}},
		},
	})
	e.reconcile() // the cluster's namespace
	e.request(cluster, "pg", tplName)
	e.reconcile()
	require.Equal(t, metav1.ConditionTrue, requestCondition(e.getRequest(cluster, "pg"), v1alpha1.ReadyCondition).Status)

	agent, err := client.New(cp.ImpersonateConfig(testenv.ServiceAccountUser(ns, v1alpha1.AgentServiceAccount)), client.Options{Scheme: testenv.Scheme()})
	require.NoError(t, err)
	var secrets corev1.SecretList
	require.NoError(t, agent.List(ctx, &secrets, client.InNamespace(ns)), "the claim grants Secrets")

	// The cluster's own ServiceAccount creates a duplicate request.
	require.NoError(t, agent.Create(ctx, &v1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: "pg-again", Namespace: ns},
		Spec:       v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: tplName}},
	}))
	time.Sleep(1100 * time.Millisecond) // a later creationTimestamp: the newer of the two
	e.reconcile()

	// The platform team removes the Secrets claim.
	var tpl v1alpha1.APIServiceExportTemplate
	require.NoError(t, cp.Client.Get(ctx, client.ObjectKey{Name: tplName}, &tpl))
	tpl.Spec.PermissionClaims = nil
	require.NoError(t, cp.Client.Update(ctx, &tpl))
	e.reconcile()

	requireForbidden(t, agent.List(ctx, &secrets, client.InNamespace(ns)), "listing Secrets after the claim was removed")
	assert.Contains(t, e.subjects()[0], "update: "+cluster)
	pg := e.getRequest(cluster, "pg")
	assert.Equal(t, metav1.ConditionTrue, requestCondition(pg, v1alpha1.ReadyCondition).Status, requestCondition(pg, v1alpha1.ReadyCondition).Message)
	again := e.getRequest(cluster, "pg-again")
	rendered := requestCondition(again, v1alpha1.RenderedCondition)
	assert.Equal(t, metav1.ConditionFalse, rendered.Status)
	assert.Equal(t, v1alpha1.DuplicateRequestReason, rendered.Reason, rendered.Message)
	assert.Equal(t, v1alpha1.RequestFailed, again.Status.Phase)
}
