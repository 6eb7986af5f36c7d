package render

import "github.com/bindsync/bindsync/internal/staterepo"

// KeepClusters returns tree with the folders of clusters replaced by what
// last holds for them (Keep with a whole hold of each).
func KeepClusters(tree, last staterepo.Tree, clusters []string) staterepo.Tree {
	holds := make([]Hold, len(clusters))
	for i, c := range clusters {
		holds[i] = Hold{Cluster: c}
	}
	return Keep(tree, last, holds)
}
