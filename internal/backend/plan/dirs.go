package plan

import (
	"bytes"
	"sort"
	"strings"
	"unsafe"

	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// changedDirs is ChangedDirs of two plan trees: when t was rendered from
// prev's render (render.Output.Base), only the folders render wrote anew
// are compared.
func changedDirs(prev, t *ptree) ([]string, bool) {
	if sameTree(prev.tree, t.tree) {
		return nil, false
	}
	if t.base != prev {
		return ChangedDirs(prev.tree, t.tree)
	}
	var dirs []string
	eq := sameBytes{}
	for _, ch := range t.changes {
		if folderDiffers(prev.tree, t.tree, ch, eq) {
			dirs = append(dirs, render.ClustersDir+"/"+ch.Cluster)
		}
	}
	sort.Strings(dirs)
	return dirs, len(dirs) > 0
}

// folderDiffers: the folder of ch holds other paths or bytes in after than
// in before (ch.Before are its paths in before, ch.After in after).
func folderDiffers(before, after staterepo.Tree, ch render.ClusterChange, eq sameBytes) bool {
	if len(ch.Before) != len(ch.After) {
		return true
	}
	for _, p := range ch.After {
		x, ok := before[p]
		if !ok || !eq.equal(x, after[p]) {
			return true
		}
	}
	return false
}

// filesUnder returns the files of t under dirs (nil for nil dirs): from
// the folders render wrote when t was rendered from its base, else from a
// scan of the tree.
func filesUnder(t *ptree, dirs []string) staterepo.Tree {
	if dirs == nil {
		return nil
	}
	files := staterepo.Tree{}
	want := make(map[string]bool, len(dirs))
	for _, d := range dirs {
		want[d] = true
	}
	if t.base != nil {
		found := 0
		for _, ch := range t.changes {
			if want[render.ClustersDir+"/"+ch.Cluster] {
				found++
				for _, p := range ch.After {
					files[p] = t.tree[p]
				}
			}
		}
		if found == len(dirs) {
			return files
		}
		clear(files)
	}
	for p, b := range t.tree {
		if d, ok := clusterDirOf(p); ok && want[d] {
			files[p] = b
		}
	}
	return files
}

// changedClustersOf names the clusters whose files differ between prev and
// t, which differ in dirs (nil: somewhere outside every cluster folder).
func changedClustersOf(prev, t *ptree, dirs []string) []string {
	if dirs == nil {
		return changedClusters(prev.tree, t.tree)
	}
	out := make([]string, len(dirs))
	for i, d := range dirs {
		out[i] = strings.TrimPrefix(d, render.ClustersDir+"/")
	}
	return out
}

// ChangedDirs compares two trees. changed is false when they hold the same
// paths with the same bytes. Otherwise dirs lists, sorted, the cluster
// folders (clusters/<name>) that hold every difference, or is nil when a
// difference lies outside every cluster folder. Slices that trees share
// (render.Cache's output) compare at the cost of a pointer comparison.
func ChangedDirs(before, after staterepo.Tree) (dirs []string, changed bool) {
	set := map[string]bool{}
	outside := false
	note := func(p string) {
		changed = true
		if d, ok := clusterDirOf(p); ok {
			set[d] = true
		} else {
			outside = true
		}
	}
	common := 0
	eq := sameBytes{}
	for p, x := range after {
		y, ok := before[p]
		if ok {
			common++
		}
		if !ok || !eq.equal(x, y) {
			note(p)
		}
	}
	if common < len(before) {
		for p := range before {
			if _, ok := after[p]; !ok {
				note(p)
			}
		}
	}
	if !changed || outside {
		return nil, changed
	}
	return sortedSet(set), true
}

// sameBytes compares byte slices, remembering the result for large ones by
// their identity: a tree read from git shares one slice per blob, a
// rendered one one slice per content, so the exports and CRDs that a
// thousand clusters share are compared once, not a thousand times.
type sameBytes map[[2]blobKey]bool

// sameBytesMin is the size from which a comparison is remembered.
const sameBytesMin = 1 << 10

func (m sameBytes) equal(x, y []byte) bool {
	if len(x) != len(y) {
		return false
	}
	if len(x) < sameBytesMin {
		return bytes.Equal(x, y)
	}
	k := [2]blobKey{{unsafe.SliceData(x), len(x)}, {unsafe.SliceData(y), len(y)}}
	eq, ok := m[k]
	if !ok {
		eq = bytes.Equal(x, y)
		m[k] = eq
	}
	return eq
}

// clusterDirOf returns clusters/<name> for a path inside that folder.
func clusterDirOf(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, render.ClustersDir+"/")
	if !ok {
		return "", false
	}
	c, tail, ok := strings.Cut(rest, "/")
	if !ok || c == "" || tail == "" {
		return "", false
	}
	return p[:len(render.ClustersDir)+1+len(c)], true
}

// TreesEqual reports whether two trees hold the same paths with the same bytes.
func TreesEqual(a, b staterepo.Tree) bool {
	if len(a) != len(b) {
		return false
	}
	for p, x := range a {
		y, ok := b[p]
		if !ok || !bytes.Equal(x, y) {
			return false
		}
	}
	return true
}
