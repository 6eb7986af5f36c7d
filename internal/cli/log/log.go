// Package log implements `bindsync log`: the state repository's history as
// a record of who got which API, with which schema, when and how approved.
package log

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/cli/gitflags"
	"github.com/bindsync/bindsync/internal/cli/kube"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Approval says how a change reached main.
const (
	// ApprovalAutomatic: the backend committed it to main itself.
	ApprovalAutomatic = "automatic"
	// ApprovalMerged: a merge commit brought it (bindsync approve or a forge).
	ApprovalMerged = "merged"
	// ApprovalByHand: a commit on main not written by bindsync (a squash,
	// a rebase, a revert, an edit).
	ApprovalByHand = "by hand"
)

// Entry is one change of main.
type Entry struct {
	Commit     string    `json:"commit"`
	Time       time.Time `json:"time"`
	Author     string    `json:"author"`
	Subject    string    `json:"subject"`
	Cause      string    `json:"cause,omitempty"`
	Clusters   []string  `json:"clusters,omitempty"`
	Templates  []string  `json:"templates,omitempty"`
	Request    string    `json:"request,omitempty"`
	RequestUID string    `json:"requestUID,omitempty"`
	Schemas    []string  `json:"schemas,omitempty"`
	Compat     string    `json:"compat,omitempty"`
	Approval   string    `json:"approval"`
	ApprovedBy string    `json:"approvedBy,omitempty"`
}

type flags struct {
	repo     gitflags.Flags
	cluster  string
	template string
	limit    int
	output   string
}

// ExitCodes is the table of exit codes log documents in its help.
const ExitCodes = `Exit codes:
  0  the history is printed
  1  the repository has no --branch (main), or a commit could not be read
  2  bad usage: bad flags, unreadable credential files, a --repo that is no URL and no
     repository folder
  9  the state repository could not be reached (refused, reset, unresolvable, TLS or
     ssh host key, timed out, busy)
 11  the state repository's server refused: authentication or authorization failed,
     no such repository`

// logCommitDigits is how much of a commit hash bindsync log's table shows.
const logCommitDigits = 8

// NewCommand returns `bindsync log`.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "log --repo URL|DIR [--cluster C] [--template T] [-o json|yaml]",
		Short: "Who got which API, with which schema, when, approved how: main's history from its trailers",
		Long: `log reads main's first-parent history, newest first, and shows each change with
what its commit trailers say: the cause (bind, unbind, schema, update), the clusters and
templates, the request, the schema hashes, the compatibility verdict, and how it reached
main: automatic (the backend committed it), merged (a merge commit: bindsync approve,
whose Bindsync-Approved-By names the approver, or a forge's merge; its trailers are read
from the merged branch when the merge commit has none), or by hand (another writer's
commit, such as a squash or a revert).

` + ExitCodes,
		Example: `  bindsync log --repo /var/lib/bindsync --cluster team-a
  bindsync log --repo https://git.example.com/platform/state.git --template postgresql -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return run(cmd.Context(), f, stdout)
		},
	}
	fl := cmd.Flags()
	f.repo.Add(fl)
	fl.StringVar(&f.cluster, "cluster", "", "only changes of this app cluster")
	fl.StringVar(&f.template, "template", "", "only changes of this template")
	fl.IntVar(&f.limit, "limit", 0, "read at most this many commits of main (0: all)")
	fl.StringVarP(&f.output, "output", "o", "", "json or yaml instead of a table")
	return cmd
}

func run(ctx context.Context, f *flags, stdout io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := kube.CheckFormat(f.output); err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	repo, cleanup, err := f.repo.Open(ctx, "", "")
	if err != nil {
		return err // coded by Open
	}
	defer cleanup()
	head, err := repo.Head(f.repo.Branch)
	if err != nil {
		return gitflags.Failed(err)
	}
	if head.IsZero() {
		return exitcode.New(exitcode.Problems, fmt.Errorf("%s has no branch %s", f.repo.Repo, f.repo.Branch))
	}
	commits, err := repo.FirstParentLog(head, f.limit)
	if err != nil {
		return gitflags.Failed(err)
	}
	entries := []Entry{}
	for _, c := range commits {
		e, err := entryOf(repo, c)
		if err != nil {
			return gitflags.Failed(err)
		}
		if Matches(e, f.cluster, f.template) {
			entries = append(entries, e)
		}
	}
	if f.output != kube.Table {
		return kube.Print(stdout, f.output, entries)
	}
	return PrintTable(stdout, entries)
}

// entryOf reads c, and for a merge commit without bindsync's trailers (a
// forge's merge) the trailers of the branch commit it merged.
func entryOf(repo *git.Repo, c git.CommitInfo) (Entry, error) {
	msg := c.Message
	if _, ok := msg.Get(staterepo.TrailerCause); !ok && len(c.Parents) > 1 {
		merged, err := repo.CommitInfo(c.Parents[1])
		if err != nil {
			return Entry{}, err
		}
		msg.Trailers = append(append([]staterepo.Trailer(nil), msg.Trailers...), merged.Message.Trailers...)
	}
	return EntryOf(c, msg), nil
}

// EntryOf builds the entry of c from the trailers of msg.
func EntryOf(c git.CommitInfo, msg staterepo.Message) Entry {
	e := Entry{Commit: c.Hash.String(), Time: c.When.UTC(), Author: c.Author, Subject: c.Message.Subject}
	_, rebased := msg.Get(staterepo.TrailerBase) // an approval branch's commit, put on main by a rebase
	for _, t := range msg.Trailers {
		switch strings.ToLower(t.Key) {
		case strings.ToLower(staterepo.TrailerCause):
			e.Cause = t.Value
		case strings.ToLower(staterepo.TrailerCluster):
			e.Clusters = appendNew(e.Clusters, t.Value)
		case strings.ToLower(staterepo.TrailerTemplate):
			e.Templates = appendNew(e.Templates, t.Value)
		case strings.ToLower(staterepo.TrailerRequest):
			e.Request = t.Value
		case strings.ToLower(staterepo.TrailerRequestUID):
			e.RequestUID = t.Value
		case strings.ToLower(staterepo.TrailerSchemaHash):
			e.Schemas = appendNew(e.Schemas, t.Value)
		case strings.ToLower(staterepo.TrailerCompat):
			e.Compat = t.Value
		case strings.ToLower(staterepo.TrailerApprovedBy):
			e.ApprovedBy = t.Value
		}
	}
	switch {
	case len(c.Parents) > 1:
		e.Approval = ApprovalMerged
		if e.ApprovedBy == "" {
			e.ApprovedBy = c.Author
		}
	case e.ApprovedBy != "" || rebased || e.Cause == "":
		e.Approval = ApprovalByHand
		if e.ApprovedBy == "" {
			e.ApprovedBy = c.Author
		}
	default:
		e.Approval = ApprovalAutomatic
	}
	return e
}

func appendNew(list []string, v string) []string {
	if slices.Contains(list, v) {
		return list
	}
	return append(list, v)
}

// Matches reports whether e concerns cluster and template (empty: any).
func Matches(e Entry, cluster, template string) bool {
	return (cluster == "" || slices.Contains(e.Clusters, cluster)) &&
		(template == "" || slices.Contains(e.Templates, template))
}

// PrintTable writes entries as a table, one line each.
func PrintTable(w io.Writer, entries []Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCOMMIT\tCAUSE\tCLUSTERS\tTEMPLATES\tSCHEMAS\tAPPROVAL\tSUBJECT")
	for _, e := range entries {
		approval := e.Approval
		if e.ApprovedBy != "" {
			approval += " by " + e.ApprovedBy
		}
		schemas := make([]string, 0, len(e.Schemas))
		for _, s := range e.Schemas {
			crd, hash, _ := strings.Cut(s, "=")
			schemas = append(schemas, crd+"="+staterepo.ShortHash(hash, staterepo.SchemaDigits))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format(time.RFC3339), staterepo.ShortHash(e.Commit, logCommitDigits),
			dash(e.Cause), dash(strings.Join(e.Clusters, ",")), dash(strings.Join(e.Templates, ",")),
			dash(strings.Join(schemas, ",")), approval, e.Subject)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
