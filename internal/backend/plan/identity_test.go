package plan_test

import (
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/backend/plan"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// deepTree copies a tree and every file's bytes.
func deepTree(t staterepo.Tree) staterepo.Tree {
	out := make(staterepo.Tree, len(t))
	for p, b := range t {
		out[p] = append([]byte(nil), b...)
	}
	return out
}

// TestAPlanModifiesNothingItIsGiven guards the promise every identity
// cache of a plan rests on (docs/caches.md): the render cache finds the
// input's CRDs by identity while it renders, and the memo finds main's
// tree, its files and the plan's own trees by identity from plan to plan.
// None of them may be modified: not the input's objects, not main's tree
// or its bytes, not a tree a plan returned, whatever later plans do.
func TestAPlanModifiesNothingItIsGiven(t *testing.T) {
	w := newWorld(t, v1alpha1.SchemaUpdateNonBreaking)
	w.requests = append(w.requests, request("c1", "pg", "postgresql"), request("c2", "pg", "pg-manual"))
	main := w.settled(t, staterepo.Tree{})
	removeField(&w.crd) // breaking: held, with a schema branch
	cache, memo := render.NewCache(), plan.NewMemo()

	in := w.input(main)
	in.Cache, in.Memo = cache, memo
	crds := []apiextensionsv1.CustomResourceDefinition{*in.CRDs[0].DeepCopy()}
	requests := make([]v1alpha1.APIServiceExportRequest, len(in.Requests))
	for i := range in.Requests {
		requests[i] = *in.Requests[i].DeepCopy()
	}
	mainCopy := deepTree(main)

	first := plan.Make(in)
	require.NotEmpty(t, first.Branches, "a pending and a schema branch")
	firstMain, firstBranches := deepTree(first.Main), make([]staterepo.Tree, len(first.Branches))
	for i, b := range first.Branches {
		firstBranches[i] = deepTree(b.TreeOn(first.Main))
	}
	assert.Equal(t, crds, in.CRDs, "the input's CRDs")
	assert.Equal(t, requests, in.Requests, "the input's requests")
	assert.Equal(t, mainCopy, main, "main's tree and its bytes")

	// later plans through the same cache and memo, on the first plan's main
	w.requests = append(w.requests, request("c2", "other", "postgresql"))
	for range 2 {
		next := w.input(first.Main)
		next.Cache, next.Memo = cache, memo
		plan.Make(next)
	}
	assert.True(t, maps.EqualFunc(firstMain, first.Main, func(a, b []byte) bool { return string(a) == string(b) }),
		"a plan's main is never modified by later plans")
	for i, b := range first.Branches {
		assert.Equal(t, firstBranches[i], deepTree(b.TreeOn(first.Main)), "branch %s", b.Name)
	}
	assert.Equal(t, mainCopy, main, "main's tree and its bytes, after every plan")
}
