package render_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/internal/manifest"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/statedir"
)

func loadCase(t testing.TB, name string) render.Input {
	t.Helper()
	in, problems, err := manifest.LoadDir(filepath.Join(goldenRoot, name, "input"))
	require.NoError(t, err)
	require.Empty(t, problems)
	return in
}

func TestRenderIsDeterministicWhateverTheInputOrder(t *testing.T) {
	in := loadCase(t, "bad-inputs")
	first := render.Render(in)
	for i := range 5 {
		shuffled := in
		rng := rand.New(rand.NewSource(int64(i)))
		shuffled.CRDs = append(shuffled.CRDs[:0:0], in.CRDs...)
		shuffled.Templates = append(shuffled.Templates[:0:0], in.Templates...)
		shuffled.Clusters = append(shuffled.Clusters[:0:0], in.Clusters...)
		shuffled.Requests = append(shuffled.Requests[:0:0], in.Requests...)
		rng.Shuffle(len(shuffled.Templates), func(a, b int) {
			shuffled.Templates[a], shuffled.Templates[b] = shuffled.Templates[b], shuffled.Templates[a]
		})
		rng.Shuffle(len(shuffled.Clusters), func(a, b int) {
			shuffled.Clusters[a], shuffled.Clusters[b] = shuffled.Clusters[b], shuffled.Clusters[a]
		})
		rng.Shuffle(len(shuffled.Requests), func(a, b int) {
			shuffled.Requests[a], shuffled.Requests[b] = shuffled.Requests[b], shuffled.Requests[a]
		})
		again := render.Render(shuffled)
		assert.True(t, statedir.Diff(first.Tree, again.Tree).Empty(), "run %d rendered other bytes", i)
		assert.Equal(t, first.Problems, again.Problems)
		assert.Equal(t, first.Requests, again.Requests)
	}
}

func TestIdenticalSchemasAreOneSharedSerialisation(t *testing.T) {
	out := render.Render(loadCase(t, "two-clusters-shared-template"))
	require.Empty(t, out.Problems)
	crd := "postgresqlinstances.anynines.com"
	for _, paths := range [][2]string{
		{render.ExportPath("c1", crd), render.ExportPath("c2", crd)},
		{render.CRDPath("c1", crd), render.CRDPath("c2", crd)},
	} {
		a, b := out.Tree[paths[0]], out.Tree[paths[1]]
		require.NotEmpty(t, a)
		assert.Equal(t, a, b, "%s and %s must hold the same bytes", paths[0], paths[1])
		assert.Equal(t, unsafe.SliceData(a), unsafe.SliceData(b), "%s and %s must share one serialisation", paths[0], paths[1])
		assert.False(t, strings.Contains(string(a), "bindsync-c1") || strings.Contains(string(a), "bindsync.io/cluster"),
			"%s names a cluster", paths[0])
		assert.False(t, strings.Contains(string(a), "namespace:"), "%s carries a namespace", paths[0])
	}
	for _, c := range []string{"c1", "c2"} {
		k := string(out.Tree[render.ControlPlaneDir(c)+"/kustomization.yaml"])
		assert.Contains(t, k, "namespace: bindsync-"+c)
		assert.Contains(t, k, "bindsync.io/cluster: "+c)
	}
}

func TestPermissionClaimsBecomeRulesWithTheClaimedVerbs(t *testing.T) {
	out := render.Render(loadCase(t, "permission-claims"))
	require.Empty(t, out.Problems)
	role := roleRules(t, out.Tree["clusters/c1/control-plane/rbac.yaml"])
	assert.Contains(t, role, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"configmaps", "secrets"}, Verbs: []string{"get", "list", "watch"}})
	assert.Contains(t, role, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, ResourceNames: []string{"backup-key"}, Verbs: []string{"get"}})
	assert.Contains(t, role, rbacv1.PolicyRule{APIGroups: []string{"anynines.com"}, Resources: []string{"backups", "postgresqlinstances"},
		Verbs: []string{"create", "delete", "get", "list", "patch", "update", "watch"}})
}

func TestClusterScopedCRDsAreGrantedByAClusterRoleOfTheirOwn(t *testing.T) {
	out := render.Render(loadCase(t, "cluster-scoped-crd"))
	require.Empty(t, out.Problems)
	rbac := string(out.Tree["clusters/c1/control-plane/rbac.yaml"])
	assert.Contains(t, rbac, "kind: ClusterRole\n")
	assert.Contains(t, rbac, "name: bindsync:c1:agent")
	role := roleRules(t, out.Tree["clusters/c1/control-plane/rbac.yaml"])
	for _, r := range role {
		assert.NotContains(t, r.Resources, "backuppolicies", "a Role cannot grant a cluster-scoped resource")
	}
	assert.NotContains(t, string(out.Tree["clusters/c2/control-plane/rbac.yaml"]), "ClusterRole", "c2 binds nothing cluster-scoped")
}

func TestABadObjectNeverBlocksOtherClusters(t *testing.T) {
	in := loadCase(t, "two-clusters-shared-template")
	good := render.Render(in)
	require.Empty(t, good.Problems)

	bad := loadCase(t, "bad-inputs")
	in.Clusters = append(in.Clusters, bad.Clusters...)
	in.Templates = append(in.Templates, bad.Templates[2:]...) // mongodb, wildcard-claim, escalating-claim
	in.Requests = append(in.Requests, bad.Requests...)
	mixed := render.Render(in)
	require.NotEmpty(t, mixed.Problems)
	for _, p := range good.Tree.Paths() {
		assert.Equal(t, string(good.Tree[p]), string(mixed.Tree[p]), "%s changed because of another cluster's bad objects", p)
	}
	for _, p := range mixed.Problems {
		assert.NotEmpty(t, p.Name, "%s names no object", p)
		assert.NotEmpty(t, p.Reason, "%s has no reason", p)
	}
}

func TestTheOlderOfTwoConflictingRequestsKeepsTheCRD(t *testing.T) {
	out := render.Render(loadCase(t, "bad-inputs"))
	byName := map[string]render.RequestResult{}
	for _, r := range out.Requests {
		byName[r.Namespace+"/"+r.Name] = r
	}
	assert.True(t, byName["bindsync-good/postgresql"].Rendered)
	assert.False(t, byName["bindsync-good/everything"].Rendered)
	_, hasMessaging := out.Tree[render.CRDPath("good", "messaginginstances.anynines.com")]
	assert.False(t, hasMessaging, "a conflicting request renders nothing, not half its template")
}

func roleRules(t *testing.T, rbac []byte) []rbacv1.PolicyRule {
	t.Helper()
	var role rbacv1.Role
	require.NoError(t, yaml.Unmarshal(bytes.Split(rbac, []byte("\n---\n"))[0], &role))
	require.Equal(t, "bindsync-agent", role.Name, fmt.Sprintf("first document is the Role:\n%s", rbac))
	return role.Rules
}
