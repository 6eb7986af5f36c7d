package backend

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/apply"
	"github.com/bindsync/bindsync/internal/kustomize"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// applyState is what the apply phase remembers from one reconcile to the
// next (under Reconciler.mu).
type applyState struct {
	// lastApplied is main's commit whose control-plane folders are applied,
	// except those of failed.
	lastApplied plumbing.Hash
	lastResync  time.Time
	// failed are the clusters whose folder did not apply at lastApplied:
	// the next reconcile applies them again, whatever changed.
	failed map[string]bool
	// pruned is true once the clusters that left main have had their
	// objects pruned. A new Reconciler (a new leader) starts without it.
	pruned bool
}

// apply puts main's head on the control plane: only the cluster folders
// that changed since the last applied commit (a tree diff: unchanged
// subtrees have equal hashes) and those that failed last time; every
// folder on start-up (a new leader's first reconcile) and on each resync.
//
// Every folder is checked before anything of it is applied: an object
// render could not have written for that cluster (render.CheckControlPlaneObject)
// refuses the whole folder, which is then neither applied nor pruned. A
// failure is the failing cluster's alone (Reconciler.report marks only its
// requests); the other folders are applied and main's head counts as
// applied for them.
//
// Objects of clusters that left main are pruned only after every folder
// applied: a folder that failed may be a half-written move, and pruning
// first could remove what it was about to hold. Until then the prune is
// due, and it is tried again on every reconcile. It never runs after a
// failed fetch (the loop stops there), so an outage prunes nothing.
func (rc *Reconciler) apply(ctx context.Context, r *run) error {
	head := r.newMain
	if head.IsZero() {
		return nil
	}
	rc.mu.Lock()
	st := rc.applied
	st.failed = maps.Clone(st.failed)
	rc.mu.Unlock()
	full := rc.opts.Now().Sub(st.lastResync) >= rc.opts.ResyncInterval || !st.pruned && st.lastApplied.IsZero()
	last := st.lastApplied
	if full {
		last = plumbing.ZeroHash
	}
	if last == head && len(st.failed) == 0 && st.pruned {
		r.applied = head
		return nil
	}
	dirs, err := rc.opts.Repo.ChangedDirs(last, head, staterepo.ClustersDir)
	if err != nil {
		return gitUnavailable(fmt.Errorf("diff %s..%s: %w", last, head, err))
	}
	for c := range st.failed {
		if d := staterepo.ClusterDir(c); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	tree := r.plan.Main
	var present []string
	left := false
	for _, dir := range dirs {
		c := path.Base(dir)
		if _, ok := tree[staterepo.ControlPlaneDir(c)+"/"+staterepo.KustomizationFile]; ok {
			present = append(present, c)
		} else {
			left = true
		}
	}
	r.clusterErrs = rc.applyFolders(ctx, tree, present)
	pruned := st.pruned && !full && !left
	if !pruned && len(r.clusterErrs) == 0 {
		if err := rc.opts.Applier.PruneOtherClusters(ctx, render.TreeClusters(tree)); err != nil {
			r.pruneErr = fmt.Errorf("prune clusters no longer in %s: %w", rc.opts.Branch, err)
		} else {
			pruned = true
		}
	}
	st = applyState{lastApplied: head, lastResync: st.lastResync, pruned: pruned, failed: map[string]bool{}}
	for c := range r.clusterErrs {
		st.failed[c] = true
	}
	if full {
		st.lastResync = rc.opts.Now()
	}
	rc.mu.Lock()
	rc.applied = st
	rc.mu.Unlock()
	r.applied = head
	r.log.Info("applied control-plane folders", "folders", len(present), "failed", len(r.clusterErrs), "full", full, "pruned", pruned)
	return nil
}

// applyFolders applies the control-plane folders of clusters,
// ApplyWorkers at once, and returns the error of each cluster that failed.
func (rc *Reconciler) applyFolders(ctx context.Context, tree staterepo.Tree, clusters []string) map[string]error {
	fsys := treeFS(tree)
	errs := make([]error, len(clusters))
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, rc.opts.ApplyWorkers)
	)
	for i, c := range clusters {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			errs[i] = rc.applyCluster(ctx, fsys, c)
		})
	}
	wg.Wait()
	var failed map[string]error
	for i, err := range errs {
		if err == nil {
			continue
		}
		if failed == nil {
			failed = map[string]error{}
		}
		failed[clusters[i]] = err
	}
	return failed
}

// applyCluster builds, checks, applies and prunes one cluster's folder.
// Builds of several clusters may run at once: internal/kustomize serialises
// what of them must not.
func (rc *Reconciler) applyCluster(ctx context.Context, fsys fstest.MapFS, cluster string) error {
	dir := staterepo.ControlPlaneDir(cluster)
	objs, err := kustomize.BuildFS(fsys, dir)
	if err != nil {
		return &genericError{Reason: v1alpha1.BuildFailedReason, Err: fmt.Errorf("build %s: %w", dir, err)}
	}
	apply.Sort(objs)
	if err := checkFolder(fsys, dir, cluster, objs); err != nil {
		return &stallingError{Reason: v1alpha1.ApplyRefusedReason, Err: fmt.Errorf(
			"%s in %s refused, nothing of the folder applied or pruned: %w", dir, rc.opts.Branch, err)}
	}
	nsObjs, err := buildNamespaces(fsys, cluster)
	if err != nil {
		return err
	}
	if err := rc.opts.Applier.Apply(ctx, objs); err != nil {
		if errors.Is(err, apply.ErrForeign) {
			err = fmt.Errorf("%w; bindsync never takes over an object it did not create (only the namespace %s): "+
				"delete it, or label it %s=true,%s=%s to hand it to bindsync", err,
				v1alpha1.ClusterNamespace(cluster), v1alpha1.ManagedLabel, v1alpha1.ClusterLabel, cluster)
		}
		return &genericError{Reason: v1alpha1.ApplyFailedReason, Err: fmt.Errorf("apply %s: %w", dir, err)}
	}
	// after the control-plane folder, which makes the cluster's agent
	// ServiceAccount the namespaces' RoleBindings name
	if len(nsObjs) > 0 {
		if err := rc.opts.Applier.Apply(ctx, nsObjs); err != nil {
			return &genericError{Reason: v1alpha1.ApplyFailedReason, Err: fmt.Errorf("apply %s: %w", staterepo.NamespacesDir(cluster), err)}
		}
	}
	if err := rc.opts.Applier.PruneCluster(ctx, cluster, append(slices.Clip(objs), nsObjs...)); err != nil {
		return &genericError{Reason: v1alpha1.ApplyFailedReason, Err: fmt.Errorf("prune %s: %w", dir, err)}
	}
	if err := rc.removeInstanceNamespaces(ctx, cluster, instanceNamespaces(nsObjs)); err != nil {
		return &genericError{Reason: v1alpha1.ApplyFailedReason, Err: fmt.Errorf("remove instance namespaces of cluster %s: %w", cluster, err)}
	}
	return nil
}

// checkFolder refuses every object of a cluster's built folder that render
// could not have written for it, naming the file that holds it.
func checkFolder(fsys fs.FS, dir, cluster string, objs []*unstructured.Unstructured) error {
	var errs []error
	for _, o := range objs {
		if err := render.CheckControlPlaneObject(cluster, o); err != nil {
			if file := fileOf(fsys, dir, o); file != "" {
				err = fmt.Errorf("%s: %w", file, err)
			}
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fileOf finds the file under dir that holds a document of o's kind and
// name ("" when none does, as for an object a kustomize patch made). It
// runs only for a refused object, to name the file in the message.
func fileOf(fsys fs.FS, dir string, o *unstructured.Unstructured) string {
	var found string
	_ = fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found != "" || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil
		}
		r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := r.Read()
			if err != nil {
				return nil
			}
			var m struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if yaml.Unmarshal(doc, &m) == nil && m.Kind == o.GetKind() && m.Metadata.Name == o.GetName() {
				found = p
				return fs.SkipAll
			}
		}
	})
	return found
}

// clusterErr joins the errors of the clusters that failed, in name order.
func clusterErr(errs map[string]error) error {
	names := make([]string, 0, len(errs))
	for c := range errs {
		names = append(names, c)
	}
	sort.Strings(names)
	joined := make([]error, len(names))
	for i, c := range names {
		joined[i] = errs[c]
	}
	return errors.Join(joined...)
}

// treeFS serves a rendered tree as an fs.FS for kustomize. (fstest.MapFS is
// a plain map-backed fs.FS; nothing about it is test-only.)
func treeFS(t staterepo.Tree) fstest.MapFS {
	m := make(fstest.MapFS, len(t))
	for p, b := range t {
		m[p] = &fstest.MapFile{Data: b, Mode: 0o644}
	}
	return m
}
