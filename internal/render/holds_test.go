package render_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// holdsBase is lastGoodBase with a claim on each template: postgresql
// claims secrets, messaging configmaps. c1 binds postgresql; c2 postgresql
// and messaging; c3 messaging.
func holdsBase(t *testing.T) render.Input {
	in := lastGoodBase(t)
	templateNamed(t, &in, "postgresql").Spec.PermissionClaims = []v1alpha1.PermissionClaim{
		{GroupResource: v1alpha1.GroupResource{Resource: "secrets"}, Verbs: []v1alpha1.Verb{"get", "list"}}}
	templateNamed(t, &in, "messaging").Spec.PermissionClaims = []v1alpha1.PermissionClaim{
		{GroupResource: v1alpha1.GroupResource{Resource: "configmaps"}, Verbs: []v1alpha1.Verb{"get"}}}
	return in
}

// A hold keeps the object whose input is bad, never its whole cluster:
// every good request of the cluster renders, and every grant the new render
// narrows is narrowed, while the bad object keeps its last good export, CRD
// file and share of the Role.
func TestHoldsArePerObjectNotPerCluster(t *testing.T) {
	pgExport := func(c string) string { return staterepo.ExportPath(c, "postgresqlinstances.anynines.com") }
	msgExport := func(c string) string { return staterepo.ExportPath(c, "messaginginstances.anynines.com") }
	rbac := func(c string) string { return staterepo.ControlPlaneDir(c) + "/rbac.yaml" }
	noSecrets := func(t *testing.T, in *render.Input) {
		templateNamed(t, in, "postgresql").Spec.PermissionClaims = nil
	}
	for _, tc := range []struct {
		name string
		// last is the tree written before (nil: a fresh repository).
		last bool
		edit func(t *testing.T, in *render.Input)
		// reason is the one problem's reason.
		reason string
		// check inspects the tree to write.
		check func(t *testing.T, last, kept staterepo.Tree)
	}{{
		name: "a fresh render of a cluster with a request for an unknown template renders its good ones",
		edit: func(t *testing.T, in *render.Input) {
			addRequest(in, "c2", "mongodb", "no-such-template")
		},
		reason: v1alpha1.TemplateNotFoundReason,
		check: func(t *testing.T, _, kept staterepo.Tree) {
			assert.Contains(t, kept, pgExport("c2"))
			assert.Contains(t, kept, msgExport("c2"))
			assert.Contains(t, string(kept[rbac("c2")]), "secrets")
		},
	}, {
		name: "a second request for a bound template freezes nothing: the narrowed claim narrows the Role",
		last: true,
		edit: func(t *testing.T, in *render.Input) {
			addRequest(in, "c1", "postgresql-again", "postgresql")
			in.Requests[len(in.Requests)-1].CreationTimestamp = metav1.Unix(100, 0)
			noSecrets(t, in)
		},
		reason: v1alpha1.DuplicateRequestReason,
		check: func(t *testing.T, last, kept staterepo.Tree) {
			require.Contains(t, string(last[rbac("c1")]), "secrets")
			assert.NotContains(t, string(kept[rbac("c1")]), "secrets", "the claim removed from the template is revoked")
			assert.Contains(t, kept, pgExport("c1"), "the bound request stays bound")
		},
	}, {
		name: "a bad template keeps its export and its share of the Role; the cluster's other grants narrow",
		last: true,
		edit: func(t *testing.T, in *render.Input) {
			templateNamed(t, in, "messaging").Spec.Resources[0].Resource = "messaginginstnces"
			noSecrets(t, in)
		},
		reason: v1alpha1.CRDNotFoundReason,
		check: func(t *testing.T, last, kept staterepo.Tree) {
			assert.Equal(t, last[msgExport("c2")], kept[msgExport("c2")], "main's bytes of the held export")
			assert.Equal(t, last[staterepo.CRDPath("c2", "messaginginstances.anynines.com")], kept[staterepo.CRDPath("c2", "messaginginstances.anynines.com")])
			role := string(kept[rbac("c2")])
			assert.Contains(t, role, "messaginginstances", "the held binding keeps its grant")
			assert.Contains(t, role, "configmaps", "the held template keeps its claim")
			assert.NotContains(t, role, "secrets", "the good template's narrowed claim is narrowed")
			assert.Contains(t, string(kept[staterepo.ControlPlaneDir("c2")+"/kustomization.yaml"]), "exports/messaginginstances.anynines.com.yaml")
			assert.Contains(t, string(kept[staterepo.AppDir("c2")+"/kustomization.yaml"]), "crds/messaginginstances.anynines.com.yaml")
		},
	}, {
		name: "a request whose template is gone keeps its exports; its cluster's other grants narrow",
		last: true,
		edit: func(t *testing.T, in *render.Input) {
			var keep []v1alpha1.APIServiceExportTemplate
			for _, tpl := range in.Templates {
				if tpl.Name != "messaging" {
					keep = append(keep, tpl)
				}
			}
			in.Templates = keep
			noSecrets(t, in)
		},
		reason: v1alpha1.TemplateNotFoundReason,
		check: func(t *testing.T, last, kept staterepo.Tree) {
			for _, c := range []string{"c2", "c3"} {
				assert.Equal(t, last[msgExport(c)], kept[msgExport(c)], c)
				assert.Contains(t, string(kept[rbac(c)]), "messaginginstances", c)
			}
			assert.NotContains(t, string(kept[rbac("c2")]), "secrets")
			assert.NotContains(t, string(kept[rbac("c1")]), "secrets")
		},
	}, {
		name: "a held export keeps its path against a new request of another template for the same CRD",
		last: true,
		edit: func(t *testing.T, in *render.Input) {
			pg := templateNamed(t, in, "postgresql")
			other := *pg.DeepCopy()
			other.Name, other.Spec.PermissionClaims = "pg-other", nil
			in.Templates = append(in.Templates, other)
			templateNamed(t, in, "postgresql").Spec.Resources[0].Resource = "postgresqlinstnces"
			addRequest(in, "c1", "pg-other", "pg-other")
		},
		reason: v1alpha1.CRDNotFoundReason,
		check: func(t *testing.T, last, kept staterepo.Tree) {
			crd := staterepo.CRDPath("c1", "postgresqlinstances.anynines.com")
			assert.Equal(t, last[pgExport("c1")], kept[pgExport("c1")], "the held export wins its path")
			assert.Equal(t, last[crd], kept[crd], "with its own CRD file")
			assert.Contains(t, string(kept[rbac("c1")]), "secrets", "and its share of the Role")
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			last := staterepo.Tree{}
			if tc.last {
				first := render.Render(holdsBase(t))
				require.Empty(t, first.Problems)
				last = first.Tree
			}
			in := copyInput(holdsBase(t))
			tc.edit(t, &in)
			out := render.Render(in)
			var reasons []string
			for _, p := range out.Problems {
				reasons = append(reasons, p.Reason)
			}
			assert.Contains(t, reasons, tc.reason)

			kept := render.KeepLastGood(out, last)
			tc.check(t, last, kept)

			// whatever is kept, each folder is one render could have
			// written: its kustomization lists exactly its exports
			for _, c := range render.TreeClusters(kept) {
				k := string(kept[staterepo.ControlPlaneDir(c)+"/kustomization.yaml"])
				for p := range subtree(kept, c) {
					if name, ok := strings.CutPrefix(p, staterepo.ControlPlaneDir(c)+"/exports/"); ok {
						assert.Contains(t, k, "exports/"+name, "%s lists %s", c, p)
					}
				}
			}
		})
	}
}

// A folder made again from the render's own exports is the render's: with
// every export of a cluster held and nothing changed, Keep writes the very
// bytes render wrote.
func TestAHeldFolderWithNothingChangedIsTheRender(t *testing.T) {
	out := render.Render(holdsBase(t))
	require.Empty(t, out.Problems)
	kept := render.Keep(out.Tree, out.Tree, []render.Hold{
		{Cluster: "c2", Template: "messaging"}, {Cluster: "c1", CRD: "postgresqlinstances.anynines.com"}})
	assert.Equal(t, out.Tree, kept)
}

// A duplicate request holds nothing and says which request binds the
// template; a conflicting one (another template, the same CRD) likewise.
func TestADuplicateRequestHoldsNothing(t *testing.T) {
	in := holdsBase(t)
	addRequest(&in, "c1", "postgresql-again", "postgresql")
	in.Requests[len(in.Requests)-1].CreationTimestamp = metav1.Unix(100, 0)
	out := render.Render(in)
	require.Len(t, out.Problems, 1)
	p := out.Problems[0]
	assert.Equal(t, v1alpha1.DuplicateRequestReason, p.Reason)
	assert.Equal(t, "postgresql-again", p.Name)
	assert.Contains(t, p.Message, "request postgresql")
	assert.Empty(t, p.Holds)
	assert.Empty(t, out.Holds())
}

// A revocation is part of the cluster's folder: render writes its file,
// binds no request of the cluster for that template whatever its name or
// UID, and reads the same revocations back from the tree it wrote.
func TestARevokedTemplateIsWrittenAndNeverBound(t *testing.T) {
	in := holdsBase(t)
	in.Revoked = []render.Revocation{{Cluster: "c2", Template: "postgresql"}, {Cluster: "gone", Template: "postgresql"}}
	out := render.Render(in)

	path := staterepo.RevokedPath("c2", "postgresql")
	require.Contains(t, out.Tree, path)
	assert.Contains(t, string(out.Tree[path]), "Delete this file on main to lift")
	assert.NotContains(t, out.Tree, staterepo.ExportPath("c2", "postgresqlinstances.anynines.com"), "nothing of the template is rendered for c2")
	assert.NotContains(t, string(out.Tree[staterepo.ControlPlaneDir("c2")+"/rbac.yaml"]), "postgresqlinstances")
	assert.Contains(t, out.Tree, staterepo.ExportPath("c1", "postgresqlinstances.anynines.com"), "other clusters bind it")
	assert.Contains(t, out.Tree, staterepo.ExportPath("c2", "messaginginstances.anynines.com"), "c2's other templates bind")
	require.Len(t, out.Problems, 1)
	assert.Equal(t, v1alpha1.RejectedReason, out.Problems[0].Reason)
	assert.Contains(t, out.Problems[0].Message, path)
	assert.Empty(t, out.Holds(), "a revoked request keeps nothing")
	assert.Equal(t, []render.Revocation{{Cluster: "c2", Template: "postgresql"}}, render.RevocationsIn(out.Tree),
		"a revocation for a cluster without an AppCluster is not written")
}
