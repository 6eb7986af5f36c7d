package plan_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// TestAPlanThroughAKeptCacheIsThePlanWithoutOne plans a sequence of
// reconciles with one render.Cache kept from each to the next (as the
// backend does) and without one: every plan is the same, branches,
// decisions and trees included.
func TestAPlanThroughAKeptCacheIsThePlanWithoutOne(t *testing.T) {
	w := newWorld(t, "")
	cache := render.NewCache()
	main := staterepo.Tree{}
	steps := []struct {
		name              string
		change            func()
		commits, branches int
	}{
		{"empty control plane", func() {}, 1, 0},
		{"an automatic request", func() { w.requests = append(w.requests, request("c1", "pg", "postgresql")) }, 1, 0},
		{"a manual request", func() { w.requests = append(w.requests, request("c2", "pg", "pg-manual")) }, 0, 1},
		{"nothing new", func() {}, 0, 1},
		{"a non-breaking schema change", func() { addOptionalField(&w.crd) }, 1, 1},
		{"a breaking schema change, held", func() { removeField(&w.crd) }, 0, 2},
		{"the held change again", func() {}, 0, 2},
		{"a cluster with an invalid name", func() {
			w.clusters = append(w.clusters, clusters("Bad_Name")...)
		}, 0, 2},
		{"the request deleted", func() { w.requests = w.requests[1:] }, 1, 1},
	}
	for _, s := range steps {
		s.change()
		in := w.input(main)
		without := plan.Make(in)
		in.Cache = cache
		with := plan.Make(in)
		assert.Equal(t, without, with, s.name)
		assert.Len(t, with.Steps, s.commits, s.name)
		assert.Len(t, with.Branches, s.branches, s.name)
		main = with.Main
	}
	require.Positive(t, cache.Len(), "the plans rendered through the cache")
}

// TestARecycledPlansDecisionsAreReusedAndNoOtherPlanChanges: a plan handed
// back to the memo (Memo.Recycle) lends its decisions slice to the next
// plan through the memo, which is still the plan made without a memo; a
// plan not handed back keeps its decisions whatever is planned after it.
func TestARecycledPlansDecisionsAreReusedAndNoOtherPlanChanges(t *testing.T) {
	w := newWorld(t, "")
	w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "postgresql"), request("c2", "pg", "postgresql")}
	memo := plan.NewMemo()
	in := w.input(w.settled(t, staterepo.Tree{}))
	in.Memo = memo

	kept := plan.Make(in)
	require.Len(t, kept.Requests, 2)
	keptCopy := slices.Clone(kept.Requests)
	next := plan.Make(in)
	assert.Equal(t, keptCopy, kept.Requests, "a plan not recycled is not modified")
	assert.NotSame(t, &kept.Requests[0], &next.Requests[0], "nothing recycled: a fresh slice")

	memo.Recycle(next)
	w.requests = append(w.requests, request("c1", "other", "postgresql"))
	in = w.input(in.Main)
	in.Memo = memo
	reused := plan.Make(in)
	in.Memo = nil
	assert.Equal(t, plan.Make(in), reused, "more requests than the recycled slice holds: the plan without a memo")
	assert.Equal(t, keptCopy, kept.Requests)
	w.requests = w.requests[:2]
	in = w.input(in.Main)
	in.Memo = memo
	memo.Recycle(reused)
	again := plan.Make(in)
	assert.Same(t, &reused.Requests[0], &again.Requests[0], "the recycled slice holds the next plan's decisions")
	in.Memo = nil
	assert.Equal(t, plan.Make(in), again, "the plan in recycled storage is the plan without a memo")
}

// TestADecisionNotRenderedLeavesTheCacheUnheld: the plan finds CRDs by
// identity only while Render renders (render.Cache.Hold, released in the
// same function). A Decide whose decisions are never rendered (a reconcile
// that stops between the phases) promises nothing about its CRD objects:
// one changed in place afterwards renders anew through the same cache.
func TestADecisionNotRenderedLeavesTheCacheUnheld(t *testing.T) {
	w := newWorld(t, "")
	w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "postgresql")}
	cache := render.NewCache()
	in := w.input(staterepo.Tree{})
	in.Cache = cache
	plan.Decide(in) // never rendered

	rin := render.Input{CRDs: in.CRDs, Templates: in.Templates, Clusters: in.Clusters, Requests: in.Requests}
	require.Equal(t, render.Render(rin).Tree, cache.Render(rin).Tree, "warm")
	addOptionalField(&in.CRDs[0]) // the same object, changed in place
	after := cache.Render(rin)
	assert.Equal(t, render.Render(rin).Tree, after.Tree, "the changed CRD is rendered anew, not found by identity")
	assert.Contains(t, string(after.Tree[staterepo.CRDPath("c1", in.CRDs[0].Name)]), "tier")
}

// TestRenderHoldsTheCacheOnlyWhileItRenders: after a plan, the same CRD
// objects changed in place render anew (the hold ended with Render).
func TestRenderHoldsTheCacheOnlyWhileItRenders(t *testing.T) {
	w := newWorld(t, "")
	w.requests = []v1alpha1.APIServiceExportRequest{request("c1", "pg", "postgresql")}
	cache := render.NewCache()
	in := w.input(staterepo.Tree{})
	in.Cache = cache
	plan.Make(in)

	addOptionalField(&in.CRDs[0])
	rin := render.Input{CRDs: in.CRDs, Templates: in.Templates, Clusters: in.Clusters, Requests: in.Requests}
	assert.Equal(t, render.Render(rin).Tree, cache.Render(rin).Tree, "released: found by content")
}
