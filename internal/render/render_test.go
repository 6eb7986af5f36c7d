package render_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
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
	"github.com/bindsync/bindsync/internal/staterepo"
)

func loadCase(t testing.TB, name string) render.Input {
	t.Helper()
	in, problems, err := manifest.LoadDir(filepath.Join(goldenRoot, name, "input"))
	require.NoError(t, err)
	require.Empty(t, problems)
	return in
}

// TestRenderIsDeterministicWhateverTheInputOrder renders every golden case
// in its file order and in several seeded random permutations of each
// input list (CRDs, templates, clusters, requests): every file must come out
// byte for byte the same, with the same problems, warnings and results.
func TestRenderIsDeterministicWhateverTheInputOrder(t *testing.T) {
	cases, err := os.ReadDir(goldenRoot)
	require.NoError(t, err)
	for _, c := range cases {
		if !c.IsDir() {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			in := loadCase(t, c.Name())
			first := render.Render(in)
			for seed := range int64(8) {
				rng := rand.New(rand.NewSource(seed))
				shuffled := render.Input{
					CRDs:       shuffledCopy(rng, in.CRDs),
					Templates:  shuffledCopy(rng, in.Templates),
					Clusters:   shuffledCopy(rng, in.Clusters),
					Requests:   shuffledCopy(rng, in.Requests),
					Namespaces: shuffledCopy(rng, in.Namespaces),
				}
				again := render.Render(shuffled)
				require.Equal(t, first.Tree.Paths(), again.Tree.Paths(), "seed %d rendered other files", seed)
				for _, p := range first.Tree.Paths() {
					assert.True(t, bytes.Equal(first.Tree[p], again.Tree[p]), "seed %d: %s has other bytes:\n%s\n---\n%s",
						seed, p, first.Tree[p], again.Tree[p])
				}
				assert.Equal(t, first.Problems, again.Problems, "seed %d", seed)
				assert.Equal(t, first.Warnings, again.Warnings, "seed %d", seed)
				assert.Equal(t, first.Requests, again.Requests, "seed %d", seed)
			}
		})
	}
}

// shuffledCopy returns a copy of in in a random order drawn from rng.
func shuffledCopy[T any](rng *rand.Rand, in []T) []T {
	out := append([]T(nil), in...)
	rng.Shuffle(len(out), func(a, b int) { out[a], out[b] = out[b], out[a] })
	return out
}

func TestIdenticalSchemasAreOneSharedSerialisation(t *testing.T) {
	out := render.Render(loadCase(t, "two-clusters-shared-template"))
	require.Empty(t, out.Problems)
	crd := "postgresqlinstances.anynines.com"
	for _, paths := range [][2]string{
		{staterepo.ExportPath("c1", crd), staterepo.ExportPath("c2", crd)},
		{staterepo.CRDPath("c1", crd), staterepo.CRDPath("c2", crd)},
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
		k := string(out.Tree[staterepo.ControlPlaneDir(c)+"/kustomization.yaml"])
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
	_, hasMessaging := out.Tree[staterepo.CRDPath("good", "messaginginstances.anynines.com")]
	assert.False(t, hasMessaging, "a conflicting request renders nothing, not half its template")
}

func roleRules(t *testing.T, rbac []byte) []rbacv1.PolicyRule {
	t.Helper()
	var role rbacv1.Role
	require.NoError(t, yaml.Unmarshal(bytes.Split(rbac, []byte("\n---\n"))[0], &role))
	require.Equal(t, "bindsync-agent", role.Name, fmt.Sprintf("first document is the Role:\n%s", rbac))
	return role.Rules
}
