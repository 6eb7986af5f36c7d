package backend

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sync"
	"testing/fstest"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/kustomize"
	"github.com/bindsync/bindsync/internal/render"
)

// apply puts main's head on the control plane: only the cluster folders
// that changed since the last applied commit (a tree diff: unchanged
// subtrees have equal hashes), every folder on start-up and on each resync.
// A folder that left main has its objects pruned by label. It never runs
// after a failed fetch (the loop stops there), so an outage prunes nothing.
func (rc *Reconciler) apply(ctx context.Context, r *run) error {
	head := r.newMain
	if head.IsZero() {
		return nil
	}
	rc.mu.Lock()
	last, full := rc.lastApplied, rc.opts.Now().Sub(rc.lastResync) >= rc.opts.ResyncInterval
	rc.mu.Unlock()
	if full {
		last = plumbing.ZeroHash
	}
	if last == head {
		r.applied = head
		return nil
	}
	dirs, err := rc.opts.Repo.ChangedDirs(last, head, render.ClustersDir)
	if err != nil {
		return gitUnavailable(fmt.Errorf("diff %s..%s: %w", last, head, err))
	}
	tree := r.plan.Main
	fsys := treeFS(tree)
	errs := make([]error, len(dirs))
	var (
		wg    sync.WaitGroup
		build sync.Mutex // kustomize's builds are not known to be safe to run at once
		slots = make(chan struct{}, rc.opts.ApplyWorkers)
	)
	for i, dir := range dirs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			errs[i] = rc.applyCluster(ctx, fsys, tree, path.Base(dir), &build)
		})
	}
	wg.Wait()
	errs = slices.DeleteFunc(errs, func(err error) bool { return err == nil })
	if full && len(errs) == 0 {
		if err := rc.opts.Applier.PruneOtherClusters(ctx, render.TreeClusters(tree)); err != nil {
			errs = append(errs, fmt.Errorf("prune clusters no longer in %s: %w", rc.opts.Branch, err))
		}
	}
	if len(errs) > 0 {
		return &genericError{Reason: v1alpha1.ApplyFailedReason, Err: errors.Join(errs...)}
	}
	rc.mu.Lock()
	rc.lastApplied = head
	if full {
		rc.lastResync = rc.opts.Now()
	}
	rc.mu.Unlock()
	r.applied = head
	r.log.Info("applied control-plane folders", "folders", len(dirs), "full", full)
	return nil
}

func (rc *Reconciler) applyCluster(ctx context.Context, fsys fstest.MapFS, tree render.Tree, cluster string, build *sync.Mutex) error {
	dir := render.ControlPlaneDir(cluster)
	if _, ok := tree[dir+"/"+render.KustomizationFile]; !ok {
		if err := rc.opts.Applier.PruneCluster(ctx, cluster, nil); err != nil {
			return fmt.Errorf("prune cluster %s: %w", cluster, err)
		}
		return nil
	}
	build.Lock()
	objs, err := kustomize.BuildFS(fsys, dir)
	build.Unlock()
	if err != nil {
		return fmt.Errorf("build %s: %w", dir, err)
	}
	if err := rc.opts.Applier.Apply(ctx, objs); err != nil {
		return fmt.Errorf("apply %s: %w", dir, err)
	}
	if err := rc.opts.Applier.PruneCluster(ctx, cluster, objs); err != nil {
		return fmt.Errorf("prune %s: %w", dir, err)
	}
	return nil
}

// treeFS serves a rendered tree as an fs.FS for kustomize. (fstest.MapFS is
// a plain map-backed fs.FS; nothing about it is test-only.)
func treeFS(t render.Tree) fstest.MapFS {
	m := make(fstest.MapFS, len(t))
	for p, b := range t {
		m[p] = &fstest.MapFile{Data: b, Mode: 0o644}
	}
	return m
}
