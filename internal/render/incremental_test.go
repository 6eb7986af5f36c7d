package render_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// TestIncrementalRenderIsRender walks one input through changes that touch
// single clusters (the ones a Cache renders alone, reusing every other
// cluster of its last render), each made in place, and renders every step
// through one Cache. Each step must equal a render without a cache, and
// what the output says about its base must hold: outside the folders of
// Changes, Tree is Base, and Before and After are exactly those folders'
// paths.
func TestIncrementalRenderIsRender(t *testing.T) {
	in := scaleInput(t, 6, 4)
	base := copyInput(in)
	find := func(in *render.Input, cluster, name string) *v1alpha1.APIServiceExportRequest {
		for i := range in.Requests {
			if in.Requests[i].Namespace == v1alpha1.ClusterNamespace(cluster) && in.Requests[i].Name == name {
				return &in.Requests[i]
			}
		}
		t.Fatalf("no request %s/%s", cluster, name)
		return nil
	}
	tpl := func(i int) string { return base.Templates[i].Name }
	steps := []struct {
		name   string
		change func(in *render.Input)
	}{
		{"first render", func(*render.Input) {}},
		{"unchanged", func(*render.Input) {}},
		{"a request deleted", func(in *render.Input) {
			ns, name := find(in, "cluster-0001", tpl(0)).Namespace, tpl(0)
			in.Requests = slices.DeleteFunc(in.Requests, func(r v1alpha1.APIServiceExportRequest) bool { return r.Name == name && r.Namespace == ns })
		}},
		{"the request back", func(in *render.Input) { in.Requests = append(in.Requests, requestFor("cluster-0001", tpl(0), tpl(0))) }},
		{"a request renamed in place, keeping its place in name order", func(in *render.Input) { find(in, "cluster-0002", tpl(1)).Name = tpl(1) + "z" }},
		{"a request's template changed in place", func(in *render.Input) {
			find(in, "cluster-0003", tpl(2)).Spec.TemplateRef.Name = "no-such-template"
		}},
		{"a second request for a bound CRD, older than the first", func(in *render.Input) {
			find(in, "cluster-0004", tpl(3)).CreationTimestamp = metav1.NewTime(time.Unix(100, 0))
			q := requestFor("cluster-0004", "older", tpl(3))
			q.CreationTimestamp = metav1.NewTime(time.Unix(1, 0))
			in.Requests = append(in.Requests, q)
		}},
		{"its creation time moved after the first", func(in *render.Input) {
			find(in, "cluster-0004", "older").CreationTimestamp = metav1.NewTime(time.Unix(2e9, 0))
		}},
		{"a request in a namespace of no cluster", func(in *render.Input) {
			in.Requests = append(in.Requests, requestFor("nowhere", "lost", tpl(0)))
			q := requestFor("x", "outside", tpl(0))
			q.Namespace = "default"
			in.Requests = append(in.Requests, q)
		}},
		{"the cluster of that namespace created", func(in *render.Input) {
			in.Clusters = append(in.Clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "nowhere"}})
		}},
		{"an AppCluster copied with other contents", func(in *render.Input) {
			in.Clusters = append(in.Clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "cluster-0005", Labels: map[string]string{"x": "y"}}})
		}},
		{"the copy equal to the original", func(in *render.Input) {
			in.Clusters[len(in.Clusters)-1].Labels = nil
		}},
		{"the copy gone", func(in *render.Input) { in.Clusters = in.Clusters[:len(in.Clusters)-1] }},
		{"a second request for a bound template", func(in *render.Input) {
			in.Requests = append(in.Requests, requestFor("cluster-0002", "again", tpl(0)))
		}},
		{"a template revoked for a cluster", func(in *render.Input) {
			in.Revoked = append(in.Revoked, render.Revocation{Cluster: "cluster-0001", Template: tpl(0)})
		}},
		{"a revocation for a cluster that does not exist, and a bad name", func(in *render.Input) {
			in.Revoked = append(in.Revoked, render.Revocation{Cluster: "gone", Template: tpl(0)}, render.Revocation{Cluster: "cluster-0002", Template: "../x"})
		}},
		{"the revocation lifted", func(in *render.Input) { in.Revoked = nil }},
		{"a request copied with other contents", func(in *render.Input) {
			dup := *find(in, "cluster-0000", tpl(0)).DeepCopy()
			dup.Spec.TemplateRef.Name = tpl(1)
			in.Requests = append(in.Requests, dup)
		}},
		{"the copy made equal", func(in *render.Input) {
			in.Requests[len(in.Requests)-1].Spec.TemplateRef.Name = tpl(0)
		}},
		{"an invalid AppCluster with a request", func(in *render.Input) {
			in.Clusters = append(in.Clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "Bad_Name"}})
			in.Requests = append(in.Requests, requestFor("Bad_Name", "r", tpl(0)))
		}},
		{"an AppCluster renamed in place", func(in *render.Input) { in.Clusters[0].Name = "cluster-moved" }},
		{"a cluster deleted with its requests", func(in *render.Input) {
			in.Clusters = slices.DeleteFunc(in.Clusters, func(c v1alpha1.AppCluster) bool { return c.Name == "cluster-0002" })
			in.Requests = slices.DeleteFunc(in.Requests, func(q v1alpha1.APIServiceExportRequest) bool {
				return q.Namespace == v1alpha1.ClusterNamespace("cluster-0002")
			})
		}},
		{"a template's claims changed: a new catalog", func(in *render.Input) {
			in.Templates[0].Spec.PermissionClaims[0].Verbs = []v1alpha1.Verb{"get"}
		}},
		{"a request added under the new catalog", func(in *render.Input) {
			in.Requests = append(in.Requests, requestFor("cluster-0003", tpl(2), tpl(2)))
		}},
		{"the claims back: the first catalog again", func(in *render.Input) {
			in.Templates[0].Spec.PermissionClaims[0].Verbs = slices.Clone(base.Templates[0].Spec.PermissionClaims[0].Verbs)
		}},
		{"input order shuffled", func(in *render.Input) {
			rng := rand.New(rand.NewSource(2))
			*in = render.Input{CRDs: shuffledCopy(rng, in.CRDs), Templates: shuffledCopy(rng, in.Templates),
				Clusters: shuffledCopy(rng, in.Clusters), Requests: shuffledCopy(rng, in.Requests), Namespaces: shuffledCopy(rng, in.Namespaces)}
		}},
		{"back to the first input", func(in *render.Input) { *in = copyInput(base) }},
		{"a template's claims changed, nothing else", func(in *render.Input) {
			in.Templates[1].Spec.PermissionClaims[0].Verbs = []v1alpha1.Verb{"get"}
		}},
		{"an app namespace of one cluster asks for its control-plane namespace", func(in *render.Input) {
			in.Namespaces = append(in.Namespaces, appNamespace("cluster-0001", "shop"))
		}},
		{"another cluster's, and one outside any cluster namespace", func(in *render.Input) {
			in.Namespaces = append(in.Namespaces, appNamespace("cluster-0002", "shop"), v1alpha1.APIServiceNamespace{
				ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "kube-system"}})
		}},
		{"two namespaces of one cluster whose names collide, the newer refused", func(in *render.Input) {
			a := appNamespace("c", "shop-with-a-very-long-name-that-is-cut-off-at-the-limit-12dc85")
			b := appNamespace("c", "shop-with-a-very-long-name-that-is-cut-off-at-the-limit-27ce66")
			a.CreationTimestamp, b.CreationTimestamp = metav1.NewTime(time.Unix(5, 0)), metav1.NewTime(time.Unix(6, 0))
			in.Clusters = append(in.Clusters, v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "c"}})
			in.Namespaces = append(in.Namespaces, a, b)
		}},
		{"the older of the two leaves: the newer gets the name", func(in *render.Input) {
			in.Namespaces = slices.DeleteFunc(in.Namespaces, func(n v1alpha1.APIServiceNamespace) bool {
				return n.Name == "shop-with-a-very-long-name-that-is-cut-off-at-the-limit-12dc85"
			})
		}},
		{"a namespace leaves", func(in *render.Input) {
			in.Namespaces = slices.DeleteFunc(in.Namespaces, func(n v1alpha1.APIServiceNamespace) bool {
				return n.Namespace == v1alpha1.ClusterNamespace("cluster-0001")
			})
		}},
		{"a CRD no template binds, with an invalid group: a problem of the catalog alone", func(in *render.Input) {
			crd := *in.CRDs[0].DeepCopy()
			crd.Name, crd.Spec.Group = "things.Not_A_Group", "Not_A_Group"
			in.CRDs = append(in.CRDs, crd)
		}},
	}
	cache := render.NewCache()
	var earlier []staterepo.Tree
	// Cache.Key: inputs of one key render to one output (a pending
	// approval branch is kept by it, plan.Memo)
	byKey := map[string]render.Output{}
	var lastKey string
	for i, s := range steps {
		s.change(&in)
		key, keyed := cache.Key(in)
		got := cache.Render(in)
		step := fmt.Sprintf("%d %s", i, s.name)
		cold := render.Render(copyInput(in))
		assertSameOutput(t, cold, got, step)
		if keyed {
			if before, ok := byKey[key]; ok {
				assertSameOutput(t, before, cold, step+": an earlier input of the same key")
			}
			byKey[key] = cold
			if s.name == "unchanged" {
				assert.Equal(t, lastKey, key, "%s: the same input, the same key", step)
			}
		}
		lastKey = key
		if got.Base == nil {
			assert.Empty(t, got.Changes, "%s: changes only against a base", step)
		} else {
			assert.True(t, slices.ContainsFunc(earlier, func(e staterepo.Tree) bool { return sameMap(e, got.Base) }),
				"%s: the base is a tree the cache returned before", step)
			assertDelta(t, got, step)
		}
		earlier = append(earlier, got.Tree)
	}
	assert.GreaterOrEqual(t, len(byKey), 10, "the inputs have keys, and different ones")
}

// assertDelta checks what Output.Base and Output.Changes claim.
func assertDelta(t *testing.T, out render.Output, step string) {
	t.Helper()
	changed := map[string]render.ClusterChange{}
	for _, c := range out.Changes {
		changed[c.Cluster] = c
	}
	if len(out.Changes) == 0 {
		assert.True(t, sameMap(out.Base, out.Tree), "%s: nothing changed: the base itself", step)
	}
	folder := func(tree staterepo.Tree, cluster string) []string {
		var ps []string
		for p := range tree {
			if strings.HasPrefix(p, staterepo.ClusterDir(cluster)+"/") {
				ps = append(ps, p)
			}
		}
		slices.Sort(ps)
		return ps
	}
	for _, c := range out.Changes {
		assert.Equal(t, folder(out.Base, c.Cluster), sortedCopy(c.Before), "%s: Before of %s", step, c.Cluster)
		assert.Equal(t, folder(out.Tree, c.Cluster), sortedCopy(c.After), "%s: After of %s", step, c.Cluster)
	}
	inChanged := func(p string) bool {
		rest, ok := strings.CutPrefix(p, staterepo.ClustersDir+"/")
		if !ok {
			return false
		}
		name, _, _ := strings.Cut(rest, "/")
		_, ok = changed[name]
		return ok
	}
	for p, b := range out.Tree {
		if !inChanged(p) {
			assert.True(t, bytes.Equal(out.Base[p], b), "%s: %s is the base's", step, p)
		}
	}
	for p := range out.Base {
		if _, ok := out.Tree[p]; !ok {
			assert.True(t, inChanged(p), "%s: %s left only inside a changed folder", step, p)
		}
	}
}

func sortedCopy(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// sameMap reports whether two trees are one map.
func sameMap(a, b staterepo.Tree) bool {
	if a == nil || b == nil || len(a) != len(b) {
		return false
	}
	const probe = "\x00probe"
	_, had := a[probe]
	if had {
		return false
	}
	a[probe] = nil
	_, same := b[probe]
	delete(a, probe)
	return same
}

// TestAHeldCacheFindsCRDsByIdentityUntilReleased: while held, renders of
// the same CRD objects equal renders without a cache; once released, a CRD
// changed in place (same objects, same slices) is rendered anew.
func TestAHeldCacheFindsCRDsByIdentityUntilReleased(t *testing.T) {
	in := scaleInput(t, 2, 2)
	cache := render.NewCache()
	release := cache.Hold()
	first := cache.Render(in)
	assertSameOutput(t, render.Render(copyInput(in)), first, "held")
	assertSameOutput(t, render.Render(copyInput(in)), cache.Render(in), "held, again")
	release()

	addField(&in.CRDs[0], "addedInPlace")
	after := cache.Render(in)

	assertSameOutput(t, render.Render(copyInput(in)), after, "released, changed in place")
	assert.Contains(t, string(after.Tree[staterepo.ExportPath("cluster-0000", in.CRDs[0].Name)]), "addedInPlace")
}
