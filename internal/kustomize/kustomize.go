// Package kustomize builds one folder of the state repository with kustomize,
// confined to that folder.
//
// The agent builds clusters/<cluster>/app and the backend builds
// clusters/<cluster>/control-plane. Both read a Git checkout that anyone with
// push access can change, so a build here is deliberately narrow:
//
//   - the folder's files are copied into an in-memory filesystem first, so
//     kustomize cannot read anything outside the folder, whatever paths or
//     symlinks the kustomization names;
//   - every kustomization file in the folder is checked before the build:
//     remote bases and files (http(s)://, ssh://, file://, git@host:, git::,
//     github.com/...) and paths that leave the folder are refused with an
//     error naming the file and the entry;
//   - every file is checked before kustomize reads it: a file over
//     MaxFileBytes, a folder over MaxFolderBytes, and YAML with anchors or
//     aliases are refused (ErrTooLarge, ErrYAMLAlias). Render never writes
//     anchors, and a few hundred bytes of nested aliases make kustomize
//     allocate gigabytes;
//   - load restrictions are root-only and plugins (including Helm) are off;
//   - the build holds a package-wide mutex, because kustomize keeps its
//     OpenAPI schema in global state and concurrent builds race on it. It is
//     the only lock around kustomize: callers (the backend's folders, the
//     agent's runs) build from as many goroutines as they like.
//
// The result is in kustomize's own order, the same for the same folder. The
// order objects are applied in is internal/apply's (apply.Sort).
package kustomize

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

var (
	// ErrRemote marks a kustomization entry that names a remote base or file.
	// bindsync builds only what is in the state repository.
	ErrRemote = errors.New("remote bases and files are not allowed")
	// ErrOutsideFolder marks a kustomization entry whose path leaves the
	// folder being built.
	ErrOutsideFolder = errors.New("path leaves the folder being built")
	// ErrNoKustomization is returned when the folder has no kustomization file.
	ErrNoKustomization = errors.New("no kustomization.yaml")
	// ErrTooLarge marks a file over MaxFileBytes or a folder over
	// MaxFolderBytes.
	ErrTooLarge = errors.New("too large")
	// ErrYAMLAlias marks a YAML file with an anchor or alias: render never
	// writes them, and nested aliases expand exponentially in kustomize.
	ErrYAMLAlias = errors.New("YAML anchors and aliases are not allowed")
)

const (
	// MaxFileBytes bounds one file of a folder: the API server takes no
	// request body over 3 MiB, so no bigger object could be applied.
	MaxFileBytes = 3 << 20
	// MaxFolderBytes bounds the sum of a folder's files: a few thousand
	// rendered CRDs, far more than one cluster binds.
	MaxFolderBytes = 64 << 20
)

// buildMutex serialises kustomize runs, and only them (not the copy and the
// checks before, nor the decoding after): krusty sets the OpenAPI schema in a
// package-level variable on every run. It is the one build lock; callers
// take none of their own (TestBuildConcurrently).
var buildMutex sync.Mutex

// BuildFS runs a kustomize build of dir (a slash-separated path, as io/fs
// expects) inside fsys, for example a Git tree. Only files under dir are
// visible to the build.
func BuildFS(fsys fs.FS, dir string) ([]*unstructured.Unstructured, error) {
	if !fs.ValidPath(dir) {
		return nil, fmt.Errorf("kustomize build %s: invalid path", dir)
	}
	objs, err := build(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return objs, nil
}

// mount is where the folder sits in the in-memory filesystem. Errors are
// rewritten to name paths relative to the folder instead.
const mount = "/folder"

// build copies dir of fsys to mount in an in-memory filesystem, checks its
// kustomization files and runs kustomize there.
func build(fsys fs.FS, dir string) ([]*unstructured.Unstructured, error) {
	mem := filesys.MakeFsInMemory()
	kustomizations, err := copyTree(fsys, dir, mem)
	if err != nil {
		return nil, err
	}
	if !hasKustomization(kustomizations, ".") {
		return nil, ErrNoKustomization
	}
	for _, k := range kustomizations {
		if err := checkKustomization(mem, k); err != nil {
			return nil, err
		}
	}

	opts := krusty.MakeDefaultOptions()
	opts.LoadRestrictions = types.LoadRestrictionsRootOnly
	opts.PluginConfig = types.DisabledPluginConfig()
	opts.AddManagedbyLabel = false

	buildMutex.Lock()
	resources, err := krusty.MakeKustomizer(opts).Run(mem, mount)
	buildMutex.Unlock()
	if err != nil {
		return nil, relativeError{err}
	}

	objs := make([]*unstructured.Unstructured, 0, resources.Size())
	for _, r := range resources.Resources() {
		// Through JSON, not r.Map(): unstructured needs int64, not int.
		data, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("%s: %w", r.CurId(), err)
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// relativeError shows a kustomize error with paths relative to the folder.
type relativeError struct{ err error }

func (e relativeError) Error() string {
	msg := strings.ReplaceAll(e.err.Error(), mount+"/", "")
	return strings.ReplaceAll(msg, mount, ".")
}

func (e relativeError) Unwrap() error { return e.err }

// kustomizationNames are the file names kustomize recognises, in its order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

func isKustomizationName(name string) bool {
	for _, n := range kustomizationNames {
		if name == n {
			return true
		}
	}
	return false
}

func hasKustomization(files []string, dir string) bool {
	for _, f := range files {
		if path.Dir(f) == dir {
			return true
		}
	}
	return false
}

// legalName matches the file names kustomize's in-memory filesystem holds.
var legalName = regexp.MustCompile(`^[a-zA-Z0-9-_.:]+$`)

// copyTree copies the regular files under dir of fsys to mount in mem and
// returns the kustomization files it copied, relative to dir. .git folders
// and files and folders whose names kustomize cannot load (spaces, '@', ...)
// are skipped; a symlink is followed only as far as fsys allows (os.Root
// refuses ones that leave the root) and only to a regular file.
func copyTree(fsys fs.FS, dir string, mem filesys.FileSystem) ([]string, error) {
	var kustomizations []string
	var total int64
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := relTo(dir, p)
		if d.IsDir() {
			if p != dir && (d.Name() == ".git" || !legalName.MatchString(d.Name())) {
				return fs.SkipDir
			}
			return mem.MkdirAll(path.Join(mount, rel))
		}
		if !d.Type().IsRegular() {
			info, err := fs.Stat(fsys, p)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			if !info.Mode().IsRegular() {
				return fmt.Errorf("%s: only regular files can be built, not %s", rel, info.Mode().Type())
			}
		}
		if !legalName.MatchString(d.Name()) {
			return nil // kustomize cannot load it by any name
		}
		data, err := readBounded(fsys, p, MaxFileBytes)
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if total += int64(len(data)); total > MaxFolderBytes {
			return fmt.Errorf("%s: the folder holds more than %d bytes: %w", rel, MaxFolderBytes, ErrTooLarge)
		}
		if err := CheckNoAliases(data); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if isKustomizationName(d.Name()) {
			kustomizations = append(kustomizations, rel)
		}
		return mem.WriteFile(path.Join(mount, rel), data)
	})
	if err != nil {
		return nil, err
	}
	return kustomizations, nil
}

// readBounded reads the file p of fsys, refusing one over limit bytes
// without reading it all.
func readBounded(fsys fs.FS, p string, limit int64) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("more than %d bytes: %w", limit, ErrTooLarge)
	}
	return data, nil
}

// CheckNoAliases refuses YAML (every document of a stream) that holds an
// anchor or an alias, with ErrYAMLAlias and the line. Parsing to nodes does
// not expand aliases, so a "billion laughs" file costs no more than its
// size here. Data that is not YAML is left for kustomize to report.
func CheckNoAliases(data []byte) error {
	if !bytes.ContainsAny(data, "&*") {
		return nil // no anchor or alias can be written without them
	}
	dec := yamlv3.NewDecoder(bytes.NewReader(data))
	for {
		var doc yamlv3.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil // not YAML: kustomize says what is wrong
		}
		if n := findAlias(&doc); n != nil {
			return fmt.Errorf("line %d: %w", n.Line, ErrYAMLAlias)
		}
	}
}

func findAlias(n *yamlv3.Node) *yamlv3.Node {
	if n.Kind == yamlv3.AliasNode || n.Anchor != "" {
		return n
	}
	for _, c := range n.Content {
		if f := findAlias(c); f != nil {
			return f
		}
	}
	return nil
}

func relTo(dir, p string) string {
	if dir == "." {
		return p
	}
	if p == dir {
		return "."
	}
	return strings.TrimPrefix(p, dir+"/")
}

// checkKustomization parses one kustomization file (relative to the folder)
// and refuses remote entries and paths that leave the folder.
func checkKustomization(mem filesys.FileSystem, file string) error {
	data, err := mem.ReadFile(path.Join(mount, file))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	var k types.Kustomization
	if err := k.Unmarshal(data); err != nil {
		return fmt.Errorf("%s: invalid kustomization: %w", file, err)
	}
	k.FixKustomization()
	if len(k.HelmCharts) > 0 || len(k.HelmChartInflationGenerator) > 0 || k.HelmGlobals != nil {
		return fmt.Errorf("%s: helmCharts need kustomize plugins, which bindsync disables", file)
	}
	base := path.Dir(file)
	isFile := func(rel string) bool {
		p := path.Join(mount, rel)
		return mem.Exists(p) && !mem.IsDir(p)
	}
	for _, e := range pathEntries(&k) {
		if err := checkEntry(isFile, base, e.value); err != nil {
			return fmt.Errorf("%s: %s entry %q: %w", file, e.field, e.value, err)
		}
	}
	return nil
}

type entry struct{ field, value string }

// pathEntries lists every kustomization field that names a file or folder.
func pathEntries(k *types.Kustomization) []entry {
	var out []entry
	add := func(field string, values ...string) {
		for _, v := range values {
			if v != "" {
				out = append(out, entry{field, v})
			}
		}
	}
	add("resources", k.Resources...)
	add("components", k.Components...)
	add("crds", k.Crds...)
	add("configurations", k.Configurations...)
	add("generators", k.Generators...)
	add("transformers", k.Transformers...)
	add("validators", k.Validators...)
	add("openapi", k.OpenAPI["path"])
	for _, p := range k.PatchesStrategicMerge {
		if !strings.Contains(string(p), "\n") { // a file name, not an inline patch
			add("patchesStrategicMerge", string(p))
		}
	}
	for _, p := range k.Patches {
		add("patches", p.Path)
	}
	for _, p := range k.PatchesJson6902 {
		add("patchesJson6902", p.Path)
	}
	for _, r := range k.Replacements {
		add("replacements", r.Path)
	}
	for _, g := range k.ConfigMapGenerator {
		add("configMapGenerator", sourcePaths(g.GeneratorArgs)...)
	}
	for _, g := range k.SecretGenerator {
		add("secretGenerator", sourcePaths(g.GeneratorArgs)...)
	}
	return out
}

// sourcePaths returns the files a generator reads: "key=path" or "path".
func sourcePaths(g types.GeneratorArgs) []string {
	out := append([]string(nil), g.EnvSources...)
	for _, s := range g.FileSources {
		if _, p, ok := strings.Cut(s, "="); ok {
			s = p
		}
		out = append(out, s)
	}
	return out
}

// checkEntry refuses an entry that is remote or, resolved against base (the
// kustomization's folder relative to the build folder), leaves the folder.
// kustomize loads an entry as a local file first, but tries a folder entry as
// a remote base before it looks for a local folder: a folder named like
// github.com/org/repo is fetched over the network. So only an existing
// regular file is local whatever it looks like.
func checkEntry(isFile func(string) bool, base, value string) error {
	if hasScheme(value) {
		return ErrRemote
	}
	if strings.HasPrefix(value, "/") || filepath.IsAbs(value) {
		return ErrOutsideFolder
	}
	resolved := path.Clean(path.Join(base, value))
	escapes := resolved == ".." || strings.HasPrefix(resolved, "../")
	switch {
	case !escapes && isFile(resolved):
		return nil
	case looksRemote(value):
		return ErrRemote
	case escapes:
		return ErrOutsideFolder
	}
	return nil // missing: kustomize reports it with its own message
}

// hasScheme reports a URL (https://, ssh://, file://, ...) or go-getter's
// git:: prefix.
func hasScheme(value string) bool {
	v := strings.ToLower(strings.TrimSpace(value))
	return strings.Contains(v, "://") || strings.HasPrefix(v, "git::")
}

// scpUser matches the user@ of an scp-like Git address (git@host:org/repo),
// as kustomize parses it.
var scpUser = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]*@`)

// looksRemote reports the forms kustomize clones without a scheme: an
// scp-like user@host:path and the github.com/ shorthand.
func looksRemote(value string) bool {
	v := strings.ToLower(strings.TrimSpace(value))
	return scpUser.MatchString(v) ||
		strings.HasPrefix(v, "github.com/") || strings.HasPrefix(v, "github.com:")
}
