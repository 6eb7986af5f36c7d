package plan

import (
	"sort"
	"strings"

	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// changedDirs is ChangedDirs of two plan trees: when t was rendered from
// prev's render (render.Output.Base), only the folders render wrote anew
// are compared.
func changedDirs(prev, t *ptree) ([]string, bool) {
	if staterepo.SameTree(prev.tree, t.tree) {
		return nil, false
	}
	if t.base != prev {
		return ChangedDirs(prev.tree, t.tree)
	}
	var dirs []string
	var eq staterepo.BytesComparer
	for _, ch := range t.changes {
		if folderDiffers(prev.tree, t.tree, ch, &eq) {
			dirs = append(dirs, staterepo.ClustersDir+"/"+ch.Cluster)
		}
	}
	sort.Strings(dirs)
	return dirs, len(dirs) > 0
}

// folderDiffers: the folder of ch holds other paths or bytes in after than
// in before (ch.Before are its paths in before, ch.After in after).
func folderDiffers(before, after staterepo.Tree, ch render.ClusterChange, eq *staterepo.BytesComparer) bool {
	if len(ch.Before) != len(ch.After) {
		return true
	}
	for _, p := range ch.After {
		x, ok := before[p]
		if !ok || !eq.Equal(x, after[p]) {
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
			if want[staterepo.ClustersDir+"/"+ch.Cluster] {
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
		out[i] = strings.TrimPrefix(d, staterepo.ClustersDir+"/")
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
	var eq staterepo.BytesComparer
	for p, x := range after {
		y, ok := before[p]
		if ok {
			common++
		}
		if !ok || !eq.Equal(x, y) {
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

// clusterDirOf returns clusters/<name> for a path inside that folder.
func clusterDirOf(p string) (string, bool) {
	rest, ok := strings.CutPrefix(p, staterepo.ClustersDir+"/")
	if !ok {
		return "", false
	}
	c, tail, ok := strings.Cut(rest, "/")
	if !ok || c == "" || tail == "" {
		return "", false
	}
	return p[:len(staterepo.ClustersDir)+1+len(c)], true
}
