package git

import "github.com/go-git/go-git/v5/plumbing"

// branchRef is the full reference name of branch.
func branchRef(b string) plumbing.ReferenceName { return plumbing.NewBranchReferenceName(b) }
