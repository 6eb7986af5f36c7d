package agentbench

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/internal/staterepo"
)

// TestBenchFixture checks, without an API server, that the benchmark's input
// is what its figures claim: 211 distinct CRDs of realistic size in 51
// groups, all rendered into the bench cluster's app folder.
func TestBenchFixture(t *testing.T) {
	crds := benchCRDs(t, syntheticCRDs)
	tree := renderTree(t, renderInput(crds))
	files := appCRDFiles(tree)

	groups := map[string]bool{}
	names := map[string]bool{}
	for _, c := range crds {
		groups[c.Spec.Group] = true
		names[c.Name] = true
	}
	var smallest, largest int
	for i, f := range files {
		n := len(tree[f])
		if i == 0 || n < smallest {
			smallest = n
		}
		largest = max(largest, n)
	}

	tests := []struct {
		name      string
		got, want any
	}{
		{"11 Klutch CRDs plus the synthetic ones", len(crds), 11 + syntheticCRDs},
		{"every CRD has its own name", len(names), len(crds)},
		{"the synthetic CRDs fill 50 groups besides Klutch's", len(groups), 1 + syntheticCRDs/kindsPerGroup},
		{"every CRD is rendered into the app folder", len(files), len(crds)},
		{"the app folder has a kustomization", tree[staterepo.AppDir(benchCluster)+"/kustomization.yaml"] != nil, true},
		{"the smallest CRD file is a real provider's size (over 4 KiB)", smallest > 4<<10, true},
		{"the largest CRD file is a real provider's size (over 16 KiB)", largest > 16<<10, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { assert.Equal(t, tc.want, tc.got) })
	}
	for _, f := range files {
		require.True(t, strings.HasSuffix(f, ".yaml"), f)
	}
}

func TestAddFieldChangesEveryVersion(t *testing.T) {
	crds := benchCRDs(t, 0)
	for _, c := range crds {
		t.Run(c.Name, func(t *testing.T) {
			c := c.DeepCopy()
			require.False(t, hasField(c, "benchPush1"))
			addField(c, "benchPush1")
			assert.True(t, hasField(c, "benchPush1"))
		})
	}
}
