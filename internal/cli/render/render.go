// Package render implements `bindsync render`: control-plane manifests in a
// folder -> the state-repository tree, through the same renderer the backend
// uses.
package render

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/manifest"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/statedir"
)

type flags struct {
	in, out string
	check   bool
}

// NewCommand returns the render command.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "render --in DIR --out DIR",
		Short: "Render control-plane manifests into a state repository tree",
		Long: `render reads every YAML document under --in (CustomResourceDefinitions,
AppClusters, APIServiceExportTemplates, APIServiceExportRequests; multi-document
files too) and writes the state repository tree to --out. It owns README.md and
clusters/ in --out and leaves everything else there alone.

Exit status: 0 all objects rendered; 1 some objects are bad (one line each on
stderr; the good ones are still written) or, with --check, the tree in --out is
stale; 2 the input is unusable (unreadable, or YAML that does not parse).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return run(f, stdout, stderr) },
	}
	cmd.Flags().StringVar(&f.in, "in", "", "folder of input manifests (required)")
	cmd.Flags().StringVar(&f.out, "out", "", "state repository folder to write (required)")
	cmd.Flags().BoolVar(&f.check, "check", false, "write nothing; exit 1 with a summary when --out differs from the render")
	_ = cmd.MarkFlagRequired("in")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func run(f *flags, stdout, stderr io.Writer) error {
	if st, err := os.Stat(f.in); err != nil {
		return exitcode.New(exitcode.Unusable, fmt.Errorf("read input: %w", err))
	} else if !st.IsDir() {
		return exitcode.New(exitcode.Unusable, fmt.Errorf("read input: %s is not a folder", f.in))
	}
	in, docProblems, err := manifest.LoadDir(f.in)
	if err != nil {
		var syn *manifest.SyntaxError
		if errors.As(err, &syn) {
			return exitcode.New(exitcode.Unusable, fmt.Errorf("YAML does not parse: %w", err))
		}
		return exitcode.New(exitcode.Unusable, err)
	}
	if len(in.CRDs)+len(in.Clusters)+len(in.Templates)+len(in.Requests) == 0 && len(docProblems) == 0 {
		// Rendering nothing would remove every cluster folder in --out.
		return exitcode.New(exitcode.Unusable, fmt.Errorf("no render input under %s: no CRD, AppCluster, APIServiceExportTemplate or APIServiceExportRequest in its .yaml files", f.in))
	}
	out := render.Render(in)
	for _, p := range docProblems {
		fmt.Fprintf(stderr, "error: %s\n", p)
	}
	for _, p := range out.Problems {
		fmt.Fprintf(stderr, "error: %s\n", p)
	}
	for _, w := range out.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	bad := len(docProblems)+len(out.Problems) > 0

	if f.check {
		have, err := statedir.Read(f.out)
		if err != nil {
			return exitcode.New(exitcode.Unusable, err)
		}
		c := statedir.Diff(out.Tree, have)
		if !c.Empty() {
			printChanges(stdout, c)
			return exitcode.New(exitcode.Problems, fmt.Errorf("%s is stale: %d added, %d changed, %d removed; run bindsync render --in %s --out %s",
				f.out, len(c.Added), len(c.Changed), len(c.Removed), f.in, f.out))
		}
		fmt.Fprintf(stderr, "%s is up to date (%d files)\n", f.out, len(out.Tree))
	} else {
		c, err := statedir.Write(out.Tree, f.out)
		if err != nil {
			return exitcode.New(exitcode.Unusable, err)
		}
		fmt.Fprintf(stderr, "rendered %d files into %s: %d added, %d changed, %d removed\n",
			len(out.Tree), f.out, len(c.Added), len(c.Changed), len(c.Removed))
	}
	if bad {
		return exitcode.New(exitcode.Problems, fmt.Errorf("%d objects could not be rendered", len(docProblems)+len(out.Problems)))
	}
	return nil
}

func printChanges(w io.Writer, c statedir.Changes) {
	for _, p := range c.Added {
		fmt.Fprintf(w, "+ %s\n", p)
	}
	for _, p := range c.Changed {
		fmt.Fprintf(w, "~ %s\n", p)
	}
	for _, p := range c.Removed {
		fmt.Fprintf(w, "- %s\n", p)
	}
}
