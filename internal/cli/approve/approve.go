// Package approve implements `bindsync approve`: merge a pending bindsync
// branch into main, for teams without a forge's pull requests.
package approve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"

	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/spf13/cobra"

	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/cli/gitflags"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/staterepo"
)

type flags struct {
	repo     gitflags.Flags
	signing  gitflags.Signing
	approver string
}

// NewCommand returns `bindsync approve`.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "approve BRANCH --repo URL|DIR",
		Short: "Merge a pending bindsync/approve/ or bindsync/schema/ branch into main and push",
		Long: `approve merges BRANCH, a branch the backend keeps for a change that waits for a
human (bindsync/approve/<cluster>/<request>: a new binding under Manual approval;
bindsync/schema/<crd>/<hash>: a breaking schema change), into main and pushes main.
Any other branch is refused.

The merge commit's parents are main's head and the branch's head, and its tree is the
branch's tree: the backend builds each branch as one commit on main's head, so that
tree is main plus the change. When main moved since the branch was built, approve
refuses: the backend rebuilds the branch on the new main within its --interval; run
approve again then. The merge commit carries the branch commit's trailers and
Bindsync-Approved-By (--approver, or git config user.name and user.email). The
backend sees main holding the change and rolls it out.

Before merging, approve prints to stderr the branch's commit and every path it changes,
and refuses a change its cause could not have rendered: an approval branch of cluster
<cluster> may add or change only the files bindsync renders under clusters/<cluster>/
(exports and CRD files of the branch's template), a schema branch only the existing
export and CRD files of its CRD. With --signing-key-file the merge commit is signed, so
agents running --verify-keys with the matching public key apply the approved head.

` + ExitCodes,
		Example: `  bindsync approve bindsync/approve/team-a/postgresql --repo https://git.example.com/platform/state.git \
      --git-username me --git-password-file ~/.git-token
  bindsync approve bindsync/schema/postgresqlinstances.anynines.com/1a2b3c4d --repo /var/lib/bindsync --approver "Ada <ada@example.com>"`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), f, args[0], stdout, stderr)
		},
	}
	fl := cmd.Flags()
	f.repo.Add(fl)
	f.signing.Add(fl, "the merge commit")
	fl.StringVar(&f.approver, "approver", "", `who approves, "Name <email>" (default: git config user.name and user.email)`)
	return cmd
}

// ExitCodes is the table of exit codes approve documents in its help.
const ExitCodes = `Exit codes:
  0  merged and pushed
  1  nothing to approve or a refused change: no such branch (merged already, rejected,
     or never pending), no --branch (main) in the repository, a change outside the
     branch's scope, a branch head that is a merge commit, or a commit that cannot be
     read
  2  bad usage: not a bindsync branch, no approver, bad flags, unreadable credential or
     signing key files, a --repo that is no URL and no repository folder
  8  main moved since the branch was built (wait for the backend to rebuild it, then
     approve again)
  9  the state repository could not be reached (refused, reset, unresolvable, TLS or
     ssh host key, timed out, busy)
 11  the state repository's server refused: authentication or authorization failed,
     no such repository, or it declined the push (a hook, a protected branch)`

// CheckBranch refuses anything that is not a bindsync approval or schema branch.
func CheckBranch(branch string) error {
	for _, p := range []string{staterepo.ApproveBranchPrefix, staterepo.SchemaBranchPrefix} {
		if rest, ok := strings.CutPrefix(branch, p); ok && rest != "" && !strings.Contains(branch, "..") {
			return nil
		}
	}
	return fmt.Errorf("refusing to merge %q: approve merges only the backend's branches, %s... and %s...",
		branch, staterepo.ApproveBranchPrefix, staterepo.SchemaBranchPrefix)
}

// Approver parses "Name <email>", or reads git's global user config when s is empty.
func Approver(s string) (name, email string, err error) {
	if s != "" {
		a, err := mail.ParseAddress(s)
		if err != nil || a.Name == "" {
			return "", "", fmt.Errorf(`--approver %q is not "Name <email>"`, s)
		}
		return a.Name, a.Address, nil
	}
	cfg, err := gitconfig.LoadConfig(gitconfig.GlobalScope)
	if err == nil && cfg.User.Name != "" && cfg.User.Email != "" {
		return cfg.User.Name, cfg.User.Email, nil
	}
	return "", "", errors.New(`who approves? pass --approver "Name <email>" or set git config --global user.name and user.email`)
}

func run(ctx context.Context, f *flags, branch string, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := CheckBranch(branch); err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	name, email, err := Approver(f.approver)
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	if f.repo.Signer, err = f.signing.Signer(); err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	repo, cleanup, err := f.repo.Open(ctx, name, email)
	if err != nil {
		return err // coded by Open
	}
	defer cleanup()
	main := f.repo.Branch
	mainHead, err := repo.Head(main)
	if err != nil {
		return gitflags.Failed(err)
	}
	if mainHead.IsZero() {
		return exitcode.New(exitcode.Problems, fmt.Errorf("%s has no branch %s", f.repo.Repo, main))
	}
	branches, err := repo.Branches(staterepo.BranchPrefix)
	if err != nil {
		return gitflags.Failed(err)
	}
	head, ok := branches[branch]
	if !ok {
		return exitcode.New(exitcode.Problems, fmt.Errorf("%s has no branch %s: merged already, rejected, or never pending (see the request's Approved condition)", f.repo.Repo, branch))
	}
	change, err := Inspect(repo, main, mainHead, branch, head)
	if err != nil {
		return err
	}
	change.Print(stderr, main, mainHead)
	if err := CheckScope(repo, change); err != nil {
		return err
	}
	merge, err := Merge(repo, main, mainHead, branch, head, name+" <"+email+">")
	if err != nil {
		return err
	}
	if err := repo.Push(ctx, main, mainHead, merge); err != nil {
		if errors.Is(err, git.ErrNonFastForward) {
			return exitcode.New(exitcode.Conflict, fmt.Errorf("%s moved while approving %s: run approve again once the backend rebuilt the branch: %w", main, branch, err))
		}
		return gitflags.Failed(err)
	}
	signed := ""
	if f.repo.Signer != nil {
		signed = " (signed)"
	}
	fmt.Fprintf(stderr, "merged %s into %s%s and pushed; the backend rolls it out\n", branch, main, signed)
	fmt.Fprintln(stdout, staterepo.Revision{Branch: main, Hash: merge})
	return nil
}

// Merge writes the merge commit of branch (at head) into main (at
// mainHead) with approver in its trailers, without moving any branch.
func Merge(repo *git.Repo, main string, mainHead plumbing.Hash, branch string, head plumbing.Hash, approver string) (plumbing.Hash, error) {
	bc, err := repo.CommitInfo(head)
	if err != nil {
		return plumbing.ZeroHash, gitflags.Failed(err)
	}
	if err := builtOn(bc, branch, main, mainHead); err != nil {
		return plumbing.ZeroHash, err
	}
	msg := staterepo.Message{Subject: "approve: " + bc.Message.Subject, Body: fmt.Sprintf("Merge branch %s into %s.", branch, main)}
	if b := strings.TrimSpace(bc.Message.Body); b != "" {
		msg.Body += "\n\n" + b
	}
	for _, t := range bc.Message.Trailers {
		if !strings.EqualFold(t.Key, staterepo.TrailerBase) {
			msg.Trailers = append(msg.Trailers, t)
		}
	}
	msg.Trailers = append(msg.Trailers, staterepo.Trailer{Key: staterepo.TrailerApprovedBy, Value: approver})
	h, err := repo.MergeCommit([]plumbing.Hash{mainHead, head}, head, msg)
	if err != nil {
		return plumbing.ZeroHash, gitflags.Failed(err)
	}
	return h, nil
}

// builtOn refuses a branch commit whose parent is not main's head (a
// Conflict: the backend rebuilds the branch on the new head).
func builtOn(bc git.CommitInfo, branch, main string, mainHead plumbing.Hash) error {
	if len(bc.Parents) > 0 && bc.Parents[0] == mainHead {
		return nil
	}
	base, _ := bc.Message.Get(staterepo.TrailerBase)
	if base == "" && len(bc.Parents) > 0 {
		base = bc.Parents[0].String()
	}
	return exitcode.New(exitcode.Conflict, fmt.Errorf(
		"branch %s was built on %s, but %s is at %s now: the backend rebuilds the branch on %s within its --interval; run approve again then",
		branch, staterepo.ShortHash(base, staterepo.ShortDigits), main, staterepo.ShortHash(mainHead.String(), staterepo.ShortDigits), main))
}
