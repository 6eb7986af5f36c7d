package git

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bindsync/bindsync/internal/staterepo"
)

func TestFilesUnderSelectsTheFilesOfTheFolders(t *testing.T) {
	a := []byte("a\n")
	tree := staterepo.Tree{
		"README.md":                           a,
		"clusters/c1/app/kustomization.yaml":  a,
		"clusters/c10/app/kustomization.yaml": a,
		"clusters/c2/control-plane/ns.yaml":   a,
		"clusters/c2/app/crds/x.yaml":         a,
		"other/c1/file":                       a,
	}
	for _, tc := range []struct {
		name string
		dirs []string
		want []string
	}{
		{name: "one folder: its files, not a folder whose name it prefixes", dirs: []string{"clusters/c1"},
			want: []string{"clusters/c1/app/kustomization.yaml"}},
		{name: "two folders", dirs: []string{"clusters/c1", "clusters/c2"},
			want: []string{"clusters/c1/app/kustomization.yaml", "clusters/c2/app/crds/x.yaml", "clusters/c2/control-plane/ns.yaml"}},
		{name: "folders at different depths", dirs: []string{"clusters/c2/app", "other"},
			want: []string{"clusters/c2/app/crds/x.yaml", "other/c1/file"}},
		{name: "a folder the tree lacks: nothing", dirs: []string{"clusters/c3"}, want: []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, append([]string{}, FilesUnder(tree, tc.dirs).Paths()...))
		})
	}
}
