package backend

import (
	"context"
	"errors"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/bindsync/bindsync/internal/staterepo"
)

// ErrNonFastForward is returned (wrapped) by Repo.Push when the remote
// branch moved since it was read.
var ErrNonFastForward = errors.New("non-fast-forward")

// BranchMove is one branch update of Repo.PushBranches: a compare-and-swap
// from Old to New (New zero: delete).
type BranchMove struct {
	Branch   string
	Old, New plumbing.Hash
}

// Repo is what the backend uses of the state repository (internal/git).
type Repo interface {
	// Fetch updates the local copies of the remote's branches.
	Fetch(ctx context.Context) error
	// Head is the commit a branch points at; ZeroHash when it is missing.
	Head(branch string) (plumbing.Hash, error)
	// Branches returns every branch under prefix with its head.
	Branches(prefix string) (map[string]plumbing.Hash, error)
	// Tree returns every file of a commit (empty for ZeroHash).
	Tree(commit plumbing.Hash) (staterepo.Tree, error)
	// Commit writes tree as one commit on parent without moving a branch;
	// changed is false (and the hash is parent) when the trees are equal.
	// dirs, when not nil, are the folders outside which tree equals
	// parent's tree (plan.Step.Dirs): only they are hashed and written;
	// files are tree's files under dirs (plan.Step.Files). With dirs, tree
	// may be nil: parent's tree with files in dirs (an approval branch,
	// plan.BranchPlan.TreeOn).
	Commit(parent plumbing.Hash, tree staterepo.Tree, dirs []string, files staterepo.Tree, msg staterepo.Message) (plumbing.Hash, bool, error)
	// Push moves branch from old to new as a compare-and-swap
	// (ErrNonFastForward); new == ZeroHash deletes it.
	Push(ctx context.Context, branch string, old, new plumbing.Hash) error
	// PushBranches makes several independent moves, each as Push, in one
	// round trip when it can; errs[i] is the outcome of moves[i], and one
	// refused branch never fails another.
	PushBranches(ctx context.Context, moves []BranchMove) (errs []error)
	// FindTrailer finds the first commit in head's first-parent history
	// (at most limit commits) carrying trailer key: value.
	FindTrailer(head plumbing.Hash, key, value string, limit int) (plumbing.Hash, bool, error)
	// KnownHead is the last head of branch recorded with SetKnownHead
	// (ZeroHash: none), kept in the local repository across restarts and
	// after the branch left the remote.
	KnownHead(branch string) (plumbing.Hash, error)
	SetKnownHead(branch string, h plumbing.Hash) error
	// IsAncestor reports whether ancestor is in head's history, within
	// limit commits.
	IsAncestor(ancestor, head plumbing.Hash, limit int) (bool, error)
	// DirsMatch reports whether each folder of dirs in commit holds exactly
	// the files of files under it, comparing tree hashes only.
	DirsMatch(commit plumbing.Hash, dirs []string, files staterepo.Tree) (bool, error)
	// Trailers returns the trailers of one commit, key by key in order.
	Trailers(commit plumbing.Hash) ([]staterepo.Trailer, error)
	// ChangedDirs lists the folders prefix/<name> whose subtree differs
	// between two commits (every folder of new when old is ZeroHash).
	ChangedDirs(old, new plumbing.Hash, prefix string) ([]string, error)
}

// Applier applies control-plane folders (internal/apply).
type Applier interface {
	// Apply server-side applies objs, writing only what differs.
	Apply(ctx context.Context, objs []*unstructured.Unstructured) error
	// PruneCluster deletes the objects bindsync rendered for cluster
	// (labelled bindsync.io/managed=true, bindsync.io/cluster=<cluster>)
	// that are not in keep. Objects without those labels are never touched.
	PruneCluster(ctx context.Context, cluster string, keep []*unstructured.Unstructured) error
	// PruneOtherClusters deletes every object bindsync rendered for a
	// cluster not in clusters: folders that left main while the backend
	// was not running.
	PruneOtherClusters(ctx context.Context, clusters []string) error
	// RemoveInstanceNamespaces deletes cluster's instance Namespaces
	// (labelled bindsync.io/managed=true, bindsync.io/cluster=<cluster> and
	// bindsync.io/consumer-namespace) not in keep that hold no object
	// labelled bindsync.io/cluster; it returns the others it kept, and why.
	RemoveInstanceNamespaces(ctx context.Context, cluster string, keep []string) ([]KeptNamespace, error)
}
