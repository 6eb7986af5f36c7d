package approve

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/cli/gitflags"
	"github.com/bindsync/bindsync/internal/git"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Change is what approving a branch would bring into main: the branch's
// commit and every path it changes against main's head.
type Change struct {
	Branch  string
	Commit  git.CommitInfo
	Changes []git.PathChange
}

// Inspect reads the change branch (at head) brings on top of main (at
// mainHead); a branch not built on mainHead is a Conflict, as for Merge.
// The backend builds each branch as one commit whose only parent is
// main's head; a merge commit as a branch head is refused, as its second
// parent would bring history nobody reviewed here.
func Inspect(repo *git.Repo, main string, mainHead plumbing.Hash, branch string, head plumbing.Hash) (*Change, error) {
	bc, err := repo.CommitInfo(head)
	if err != nil {
		return nil, gitflags.Failed(err)
	}
	if err := builtOn(bc, branch, main, mainHead); err != nil {
		return nil, err
	}
	if len(bc.Parents) > 1 {
		return nil, exitcode.New(exitcode.Problems, fmt.Errorf(
			"refusing to merge %s: its head %s is a merge commit of %d parents; the backend builds each branch as one commit on %s",
			branch, staterepo.ShortHash(head.String(), staterepo.ShortDigits), len(bc.Parents), staterepo.ShortHash(mainHead.String(), staterepo.ShortDigits)))
	}
	changes, err := repo.ChangedPaths(mainHead, head)
	if err != nil {
		return nil, gitflags.Failed(err)
	}
	return &Change{Branch: branch, Commit: bc, Changes: changes}, nil
}

// Print writes the commit and the changed paths for the approver, one
// path a line, as `git show --name-status` would: A, M or D.
func (c *Change) Print(w io.Writer, main string, mainHead plumbing.Hash) {
	fmt.Fprintf(w, "approving %s: 1 commit on %s%s\n", c.Branch, staterepo.Revision{Branch: main}.Prefix(), staterepo.ShortHash(mainHead.String(), staterepo.ShortDigits))
	fmt.Fprintf(w, "  %s %s (%s)\n", staterepo.ShortHash(c.Commit.Hash.String(), staterepo.ShortDigits), c.Commit.Message.Subject, c.Commit.Author)
	for _, t := range c.Commit.Message.Trailers {
		fmt.Fprintf(w, "      %s: %s\n", t.Key, t.Value)
	}
	fmt.Fprintf(w, "  %d paths changed:\n", len(c.Changes))
	for _, p := range c.Changes {
		fmt.Fprintf(w, "    %s %s\n", strings.ToUpper(p.Change[:1]), p.Path)
	}
}

// CheckScope refuses a change that touches a path its branch's cause could
// not have rendered:
//
//   - bindsync/approve/<cluster>/<request> (a new binding): only the files
//     the layout holds under clusters/<cluster>/ (the control-plane
//     kustomization, namespace, ServiceAccount and RBAC, exports/<crd>.yaml,
//     the app kustomization and crds/<crd>.yaml), added or modified, never
//     deleted; an export or CRD file must be named after its object and
//     carry the branch's template (Bindsync-Template) in
//     bindsync.io/template; the commit's Bindsync-Cluster, when present,
//     must be <cluster>.
//   - bindsync/schema/<crd>/<hash> (a schema roll-out): only existing
//     exports/<crd>.yaml and crds/<crd>.yaml files, modified.
//
// Every path outside that is listed in the error.
func CheckScope(repo *git.Repo, c *Change) error {
	var bad []string
	refuse := func(p git.PathChange, why string) {
		bad = append(bad, fmt.Sprintf("%s (%s): %s", p.Path, p.Change, why))
	}
	switch {
	case strings.HasPrefix(c.Branch, staterepo.ApproveBranchPrefix):
		cluster, _, _ := strings.Cut(strings.TrimPrefix(c.Branch, staterepo.ApproveBranchPrefix), "/")
		if got, ok := c.Commit.Message.Get(staterepo.TrailerCluster); ok && got != cluster {
			return scopeError(c, fmt.Sprintf("its commit's %s is %q, not the branch's cluster %q", staterepo.TrailerCluster, got, cluster), nil)
		}
		template, _ := c.Commit.Message.Get(staterepo.TrailerTemplate)
		for _, p := range c.Changes {
			kind, crd := approvePath(cluster, p.Path)
			switch {
			case kind == "":
				refuse(p, "not a file bindsync renders for cluster "+cluster)
			case !p.Regular:
				refuse(p, "not a regular file")
			case p.Change == git.PathDeleted:
				refuse(p, "a new binding adds or changes files, it deletes none")
			case crd != "":
				if why := checkObjectFile(repo, c.Commit.Hash, p.Path, crd, template); why != "" {
					refuse(p, why)
				}
			}
		}
	case strings.HasPrefix(c.Branch, staterepo.SchemaBranchPrefix):
		crd, _, _ := strings.Cut(strings.TrimPrefix(c.Branch, staterepo.SchemaBranchPrefix), "/")
		for _, p := range c.Changes {
			switch {
			case !schemaPath(crd, p.Path):
				refuse(p, "a schema change of "+crd+" changes only its export and CRD files")
			case !p.Regular:
				refuse(p, "not a regular file")
			case p.Change != git.PathModified:
				refuse(p, "a schema change modifies the files that exist, it adds or deletes none")
			}
		}
	default:
		return exitcode.New(exitcode.Unusable, CheckBranch(c.Branch))
	}
	if len(bad) > 0 {
		return scopeError(c, "it changes paths its cause could not", bad)
	}
	return nil
}

func scopeError(c *Change, why string, paths []string) error {
	msg := fmt.Sprintf("refusing to merge %s (commit %s): %s", c.Branch, staterepo.ShortHash(c.Commit.Hash.String(), staterepo.ShortDigits), why)
	if len(paths) > 0 {
		msg += ":\n  " + strings.Join(paths, "\n  ")
	}
	return exitcode.New(exitcode.Problems, fmt.Errorf("%s\nreview the branch with git (git show %s); the backend rebuilds it from the control plane when it is deleted", msg, c.Commit.Hash))
}

// approvePath says which layout file p is under clusters/<cluster>/:
// "file" for a fixed file, "object" with the CRD name for an export or a
// CRD file, "" for anything else.
func approvePath(cluster, p string) (kind, crd string) {
	cp, app := staterepo.ControlPlaneDir(cluster)+"/", staterepo.AppDir(cluster)+"/"
	switch p {
	case cp + staterepo.KustomizationFile, cp + "namespace.yaml", cp + "serviceaccount.yaml", cp + "rbac.yaml", app + staterepo.KustomizationFile:
		return "file", ""
	}
	for _, dir := range []string{cp + "exports/", app + "crds/"} {
		if name, ok := strings.CutPrefix(p, dir); ok {
			if crd, ok := strings.CutSuffix(name, ".yaml"); ok && crdName(crd) {
				return "object", crd
			}
		}
	}
	return "", ""
}

// schemaPath: p is clusters/<any>/control-plane/exports/<crd>.yaml or
// clusters/<any>/app/crds/<crd>.yaml.
func schemaPath(crd, p string) bool {
	parts := strings.Split(p, "/")
	if len(parts) < 2 || parts[0] != staterepo.ClustersDir {
		return false
	}
	return p == staterepo.ExportPath(parts[1], crd) || p == staterepo.CRDPath(parts[1], crd)
}

// crdName: <plural>.<group>, no slash, no "..".
func crdName(s string) bool {
	return strings.Contains(s, ".") && !strings.ContainsAny(s, "/\\") && !strings.Contains(s, "..") && path.Clean(s) == s
}

// checkObjectFile reads an export or CRD file of the branch and says what
// is wrong with it ("" when nothing): its metadata.name must be the file's
// name and its bindsync.io/template the branch's template.
func checkObjectFile(repo *git.Repo, commit plumbing.Hash, p, crd, template string) string {
	files, err := repo.Files(commit, func(q string) bool { return q == p })
	if err != nil {
		return err.Error()
	}
	data, ok, err := files.Content(p)
	if err != nil || !ok {
		return fmt.Sprintf("cannot be read: %v", err)
	}
	var obj struct {
		Metadata struct {
			Name        string            `json:"name"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return "does not decode: " + err.Error()
	}
	if obj.Metadata.Name != crd {
		return fmt.Sprintf("holds %q, not %s", obj.Metadata.Name, crd)
	}
	if got := obj.Metadata.Annotations[v1alpha1.TemplateAnnotation]; template != "" && got != template {
		return fmt.Sprintf("%s is %q, not the branch's template %q", v1alpha1.TemplateAnnotation, got, template)
	}
	return ""
}
