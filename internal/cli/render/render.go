// Package render implements `bindsync render`: control-plane manifests in a
// folder -> the state-repository tree, through the same renderer the backend
// uses.
package render

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/manifest"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/statedir"
	"github.com/bindsync/bindsync/internal/staterepo"
)

type flags struct {
	in, out               string
	check, partial, adopt bool
}

// NewCommand returns the render command.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "render [DIR] --out DIR",
		Short: "Render control-plane manifests into a state repository tree",
		Long: `render reads every YAML document under the input folder (DIR, or --in DIR):
CustomResourceDefinitions, AppClusters, APIServiceExportTemplates,
APIServiceExportRequests and APIServiceNamespaces, multi-document files too. It writes the state
repository tree to --out.

render writes only into a bindsync state repository: a folder that holds the
marker file ` + staterepo.MarkerPath + `. The first render writes the marker into an empty
folder (or one with nothing but .git). In a state repository render owns the
marker, README.md and clusters/, and leaves everything else alone. A folder
that holds other files and no marker is refused (exit 2); --init makes it a
state repository, as long as it holds no README.md and no clusters/ of its
own, which render would overwrite. A folder whose README.md an earlier
bindsync wrote is a state repository too; the next render adds the marker.
--out may not be the input folder or inside it, and the input folder may not
be inside --out's clusters/.

Problems: each object that cannot be rendered, and each document that is not
a render input, is printed on one line; the exit status is 1 and nothing is
written. With --partial render writes anyway, but the bad object keeps the files it
has in --out (none, when it has none), and only that object:
  AppCluster                 that cluster's whole folder
  APIServiceExportRequest    in its cluster, the exports of its template
                             (nothing for a request that conflicts with or
                             duplicates a bound one)
  APIServiceExportTemplate   its exports, in every cluster with a request
                             for it
  CustomResourceDefinition   its exports, in every cluster with a request
                             for a template that binds it
  a document that does not   the whole folders of the clusters of the
  decode                     object it names, or of every cluster when it
                             names none
A kept export keeps its share of its cluster's Role; everything else
renders, so a cluster with one bad request still gets its good ones, and a
grant a template narrowed is narrowed.

--check writes nothing: it compares --out with what render would write (with
--partial, the partial render).

Revocations: a file clusters/<cluster>/revoked/<template> in --out (the
backend writes one when a bind commit is reverted on main) is kept, and no
request of that cluster for that template is rendered (a Rejected problem).
Delete the file to lift the revocation.

Exit status: 0 everything rendered, or with --check --out is up to date;
1 some objects are bad, or with --check --out differs from the render;
2 the input is unusable (unreadable, YAML that does not parse, nothing to
render) or --out is not a folder render may write.`,
		Example: `  bindsync render examples/control-plane --out state-repo
  bindsync render --in control-plane --out state-repo --check
  bindsync render control-plane --out state-repo --partial`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.complete(args); err != nil {
				return exitcode.New(exitcode.Unusable, err)
			}
			return run(f, cmd.Root().DisplayName(), stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&f.in, "in", "", "folder of input manifests (or give it as the argument)")
	cmd.Flags().StringVar(&f.out, "out", "", "state repository folder to write (required)")
	cmd.Flags().BoolVar(&f.check, "check", false, "write nothing; exit 1 with a summary when --out differs from the render")
	cmd.Flags().BoolVar(&f.partial, "partial", false, "when objects are bad, write anyway: clusters they affect keep their files in --out")
	cmd.Flags().BoolVar(&f.adopt, "init", false, "make --out a state repository although it holds other files (never a README.md or clusters/ of its own)")
	return cmd
}

// complete takes the input folder from the argument and says which folder
// is missing.
func (f *flags) complete(args []string) error {
	if len(args) == 1 {
		if f.in != "" && filepath.Clean(f.in) != filepath.Clean(args[0]) {
			return fmt.Errorf("two input folders: %s (argument) and %s (--in); give one", args[0], f.in)
		}
		f.in = args[0]
	}
	switch {
	case f.in == "" && f.out == "":
		return errors.New("missing the input folder and --out: render DIR --out DIR")
	case f.in == "":
		return errors.New("missing the input folder: give it as the argument (render DIR --out DIR) or with --in DIR")
	case f.out == "":
		return errors.New("missing --out DIR: the state repository folder to write")
	case f.check && f.adopt:
		return errors.New("--check writes nothing, so --init has nothing to do; give one of them")
	}
	return nil
}

func run(f *flags, name string, stdout, stderr io.Writer) error {
	if err := checkFolders(f.in, f.out); err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	own, err := statedir.Inspect(f.out)
	var foreign *statedir.NotStateRepoError
	switch {
	case errors.As(err, &foreign) && f.adopt:
	case errors.As(err, &foreign):
		return exitcode.New(exitcode.Unusable, fmt.Errorf("%w; nothing written. render writes only into a state repository: use an empty folder, or pass --init to make this one a state repository (it must hold no README.md and no clusters/ of its own)", err))
	case err != nil:
		return exitcode.New(exitcode.Unusable, err)
	}

	in, docProblems, err := manifest.LoadDir(f.in)
	if err != nil {
		var syn *manifest.SyntaxError
		if errors.As(err, &syn) {
			return exitcode.New(exitcode.Unusable, fmt.Errorf("YAML does not parse: %w", err))
		}
		return exitcode.New(exitcode.Unusable, err)
	}
	if len(in.CRDs)+len(in.Clusters)+len(in.Templates)+len(in.Requests)+len(in.Namespaces) == 0 && len(docProblems) == 0 {
		// Rendering nothing would remove every cluster folder in --out.
		return exitcode.New(exitcode.Unusable, fmt.Errorf("no render input under %s: no CRD, AppCluster, APIServiceExportTemplate or APIServiceExportRequest in its .yaml files", f.in))
	}
	// The state repository records revocations (clusters/<c>/revoked/<t>,
	// written by the backend when a bind commit is reverted): render keeps
	// them, and binds nothing they revoke.
	have, err := statedir.Read(f.out)
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	in.Revoked = render.RevocationsIn(have)
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
	problems := len(docProblems) + len(out.Problems)

	tree := out.Tree
	var held []string
	if problems > 0 && f.partial {
		last := have
		holds := heldObjects(out, in, docProblems, last)
		held = holdClusters(holds)
		tree = render.Keep(out.Tree, last, holds)
	}

	if f.check {
		return check(f, name, tree, problems, stdout, stderr)
	}
	if problems > 0 && !f.partial {
		return exitcode.New(exitcode.Problems, fmt.Errorf("%d objects could not be rendered; nothing written to %s (fix them, or pass --partial to write every cluster they do not affect)", problems, f.out))
	}
	if own == statedir.Legacy {
		fmt.Fprintf(stderr, "%s was written by an earlier bindsync: adding %s marks it a state repository\n", f.out, staterepo.MarkerPath)
	}
	write := statedir.Write
	if foreign != nil {
		write = statedir.Adopt
	}
	c, err := write(tree, f.out)
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	fmt.Fprintf(stderr, "rendered %d files into %s: %d added, %d changed, %d removed\n",
		len(tree), f.out, len(c.Added), len(c.Changed), len(c.Removed))
	if problems > 0 {
		return exitcode.New(exitcode.Problems, fmt.Errorf("%d objects could not be rendered; %s", problems, keptMessage(held)))
	}
	return nil
}

func check(f *flags, name string, tree staterepo.Tree, problems int, stdout, stderr io.Writer) error {
	have, err := statedir.Read(f.out)
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	c := statedir.Diff(tree, have)
	switch {
	case !c.Empty():
		printChanges(stdout, c)
		return exitcode.New(exitcode.Problems, fmt.Errorf("%s is stale: %d added, %d changed, %d removed; run %s render %s --out %s",
			f.out, len(c.Added), len(c.Changed), len(c.Removed), name, f.in, f.out))
	case problems > 0:
		return exitcode.New(exitcode.Problems, fmt.Errorf("%d objects could not be rendered", problems))
	}
	fmt.Fprintf(stderr, "%s is up to date (%d files)\n", f.out, len(tree))
	return nil
}

func keptMessage(held []string) string {
	if len(held) == 0 {
		return "they affect no cluster"
	}
	return fmt.Sprintf("clusters %s kept their last rendered files for the objects at fault", strings.Join(held, ", "))
}

// heldObjects returns what --partial keeps as it is: what the render's
// problems hold back (the bad object, never its whole cluster, see
// render.Problem.Holds), and the whole folder of each cluster a document
// that did not decode may affect.
func heldObjects(out render.Output, in render.Input, docs []manifest.Problem, last staterepo.Tree) []render.Hold {
	holds := out.Holds()
	every := append(render.TreeClusters(last), render.TreeClusters(out.Tree)...)
	for _, d := range docs {
		for _, c := range docClusters(d, in, every) {
			holds = append(holds, render.Hold{Cluster: c})
		}
	}
	return holds
}

// holdClusters names the clusters holds keep something of, sorted.
func holdClusters(holds []render.Hold) []string {
	set := map[string]bool{}
	for _, h := range holds {
		set[h.Cluster] = true
	}
	held := make([]string, 0, len(set))
	for c := range set {
		held = append(held, c)
	}
	sort.Strings(held)
	return held
}

// renderKinds are the kinds render reads.
var renderKinds = map[string]bool{
	"CustomResourceDefinition": true, "AppCluster": true,
	"APIServiceExportTemplate": true, "APIServiceExportRequest": true, "APIServiceNamespace": true,
}

// docClusters returns the clusters a document that did not decode may
// affect: those of the render object it names, or every cluster when it
// names none, since a typo in its kind may hide any object.
func docClusters(p manifest.Problem, in render.Input, every []string) []string {
	var obj struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
	}
	j, err := p.Doc.JSON()
	if err != nil || json.Unmarshal(j, &obj) != nil || !renderKinds[obj.Kind] || obj.Metadata.Name == "" {
		return every
	}
	return render.ClustersOf(in, obj.Kind, obj.Metadata.Namespace, obj.Metadata.Name)
}

// checkFolders refuses an input folder that is not one, an --out inside the
// input folder (the next render would read its own output) and an input
// folder inside --out's clusters/ (render would delete it). Both paths are
// compared absolute with symlinks resolved.
func checkFolders(in, out string) error {
	if st, err := os.Stat(in); err != nil {
		return fmt.Errorf("read input: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("read input: %s is not a folder", in)
	}
	realIn, err := realPath(in)
	if err != nil {
		return fmt.Errorf("read input: %w", err)
	}
	realOut, err := realPath(out)
	if err != nil {
		return fmt.Errorf("read --out: %w", err)
	}
	if within(realOut, realIn) {
		return fmt.Errorf("--out %s is inside the input folder %s: the next render would read its own output as input; keep the state repository outside the input folder", out, in)
	}
	if owned := filepath.Join(realOut, staterepo.ClustersDir); within(realIn, owned) {
		return fmt.Errorf("the input folder %s is inside %s, which render owns and rewrites; keep the input outside it", in, filepath.Join(out, staterepo.ClustersDir))
	}
	return nil
}

// realPath returns p absolute, with the symlinks of its longest existing
// prefix resolved.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	dir, rest := abs, ""
	for {
		resolved, err := filepath.EvalSymlinks(dir)
		if err == nil {
			return filepath.Join(resolved, rest), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return abs, nil
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}

// within reports whether p is dir or inside it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && (rel == "." || filepath.IsLocal(rel))
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
