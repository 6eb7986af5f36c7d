package plan_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// ChangedDirs is what lets the backend commit only some folders: it must
// name every folder where two trees differ, or say it cannot (nil).
func TestChangedDirsNamesEveryClusterFolderThatDiffers(t *testing.T) {
	a := []byte("a\n")
	base := staterepo.Tree{
		"README.md":                          a,
		"clusters/c1/app/kustomization.yaml": a,
		"clusters/c1/control-plane/ns.yaml":  a,
		"clusters/c2/app/kustomization.yaml": a,
	}
	with := func(edit func(staterepo.Tree)) staterepo.Tree {
		t := staterepo.Tree{}
		for p, b := range base {
			t[p] = b
		}
		edit(t)
		return t
	}
	for _, tc := range []struct {
		name    string
		after   staterepo.Tree
		dirs    []string
		changed bool
	}{
		{name: "equal trees: nothing changed", after: with(func(staterepo.Tree) {}), changed: false},
		{name: "same bytes in another slice: nothing changed",
			after: with(func(t staterepo.Tree) { t["clusters/c1/app/kustomization.yaml"] = []byte("a\n") }), changed: false},
		{name: "a file edited: its cluster", changed: true, dirs: []string{"clusters/c2"},
			after: with(func(t staterepo.Tree) { t["clusters/c2/app/kustomization.yaml"] = []byte("b\n") })},
		{name: "a file added: its cluster", changed: true, dirs: []string{"clusters/c3"},
			after: with(func(t staterepo.Tree) { t["clusters/c3/app/kustomization.yaml"] = a })},
		{name: "a file removed: its cluster", changed: true, dirs: []string{"clusters/c1"},
			after: with(func(t staterepo.Tree) { delete(t, "clusters/c1/control-plane/ns.yaml") })},
		{name: "an empty file replacing a missing one is a change", changed: true, dirs: []string{"clusters/c1"},
			after: with(func(t staterepo.Tree) { t["clusters/c1/empty"] = []byte{} })},
		{name: "two clusters: both, sorted", changed: true, dirs: []string{"clusters/c1", "clusters/c2"},
			after: with(func(t staterepo.Tree) {
				t["clusters/c2/app/kustomization.yaml"] = []byte("b\n")
				delete(t, "clusters/c1/app/kustomization.yaml")
			})},
		{name: "a file outside the cluster folders: unknown, commit everything", changed: true, dirs: nil,
			after: with(func(t staterepo.Tree) {
				t["clusters/c2/app/kustomization.yaml"] = []byte("b\n")
				t["README.md"] = []byte("b\n")
			})},
		{name: "a file directly in clusters/: unknown", changed: true, dirs: nil,
			after: with(func(t staterepo.Tree) { t["clusters/notes.txt"] = a })},
		{name: "a removed file outside the cluster folders: unknown", changed: true, dirs: nil,
			after: with(func(t staterepo.Tree) { delete(t, "README.md") })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dirs, changed := plan.ChangedDirs(base, tc.after)
			assert.Equal(t, tc.changed, changed, "changed")
			assert.Equal(t, tc.dirs, dirs, "dirs")
			assert.Equal(t, !staterepo.TreesEqual(base, tc.after), changed, "changed is !TreesEqual")
		})
	}
}
