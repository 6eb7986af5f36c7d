// Package check implements `bindsync check`: the schema compatibility report
// for two CRD files, or for every CRD file that changed between two revisions
// of a state repository.
package check

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/bindsync/bindsync/internal/cli/exitcode"
)

type flags struct {
	repo, from, to string
	output         string
	showAll        bool
}

// NewCommand returns the check command.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "check OLD NEW | check --repo DIR --from REV [--to REV]",
		Short: "Report whether a CRD change is compatible",
		Long: `check compares CustomResourceDefinitions and reports every schema change,
judged by bindsync's compatibility rules (docs/compatibility.md).

With two files, OLD and NEW, it compares the CRDs in them: one CRD each is
compared whatever its name; files with several CRDs are paired by name.

With --repo, it compares every CRD file (*.yaml or *.yml holding a
CustomResourceDefinition) that changed between --from and --to, pairing files
by path. A CRD that appears is reported as crd-added (non-breaking), one that
disappears as crd-removed (breaking). Files with the same content at many
paths (one CRD bound by many clusters) are compared once and reported once
with every path.

The table lists breaking findings; --show-all adds the non-breaking ones.
-o json always carries every finding.

Exit status: 0 compatible; 1 at least one breaking change; 2 could not
compare (unreadable file, YAML that does not parse, no CRD, bad revision).`,
		Example: `  bindsync check old/postgresql.yaml new/postgresql.yaml
  bindsync check --repo . --from main --to HEAD -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.validate(args); err != nil {
				return exitcode.New(exitcode.Unusable, err)
			}
			return run(f, args, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&f.repo, "repo", "", "git repository to compare two revisions of")
	cmd.Flags().StringVar(&f.from, "from", "", "old revision (with --repo): branch, tag or commit")
	cmd.Flags().StringVar(&f.to, "to", "HEAD", "new revision (with --repo)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	cmd.Flags().BoolVar(&f.showAll, "show-all", false, "list non-breaking findings in the table too")
	return cmd
}

func (f *flags) validate(args []string) error {
	switch f.output {
	case "table", "json":
	default:
		return fmt.Errorf("unknown output format %q: use table or json", f.output)
	}
	if f.repo == "" {
		if len(args) != 2 {
			return fmt.Errorf("check needs two CRD files, OLD and NEW, or --repo DIR --from REV (got %d arguments)", len(args))
		}
		if f.from != "" {
			return fmt.Errorf("--from needs --repo")
		}
		return nil
	}
	if len(args) != 0 {
		return fmt.Errorf("check --repo takes no file arguments (got %d)", len(args))
	}
	if f.from == "" || f.to == "" {
		return fmt.Errorf("check --repo needs --from REV (and --to REV, default HEAD)")
	}
	return nil
}

func run(f *flags, args []string, stdout, stderr io.Writer) error {
	var (
		rep report
		err error
	)
	if f.repo != "" {
		rep, err = compareRevisions(f.repo, f.from, f.to)
	} else {
		rep, err = compareFiles(args[0], args[1])
	}
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	if f.output == "json" {
		err = writeJSON(stdout, rep)
	} else {
		err = writeTable(stdout, rep, f.showAll)
	}
	if err != nil {
		return exitcode.New(exitcode.Unusable, fmt.Errorf("write report: %w", err))
	}
	if !rep.Compatible {
		return exitcode.Silent(exitcode.Problems)
	}
	return nil
}
