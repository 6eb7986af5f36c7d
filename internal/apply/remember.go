package apply

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// memo is what Options.RememberUnchanged remembers: for each object Apply
// found equal to git, the digest of the desired object and the live
// resourceVersion it compared with.
type memo struct {
	mu      sync.Mutex
	entries map[objectKey]memoEntry
}

type memoEntry struct {
	digest          [sha256.Size]byte
	resourceVersion string
}

func newMemo() *memo { return &memo{entries: map[objectKey]memoEntry{}} }

// digest identifies the desired object's content. encoding/json writes map
// keys sorted, so equal objects have equal digests.
func digest(o *unstructured.Unstructured) ([sha256.Size]byte, bool) {
	data, err := json.Marshal(o.Object)
	if err != nil {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256(data), true
}

// remember records the outcome of comparing o with the live object: an
// unchanged object (and, for a CRD, an Established one) is remembered at the
// live resourceVersion; anything else is forgotten, so it is compared in full
// next time.
func (a *Applier) remember(o *unstructured.Unstructured, out outcome, live *unstructured.Unstructured) {
	if !a.opts.RememberUnchanged {
		return
	}
	key := RefOf(o).key()
	a.known.mu.Lock()
	defer a.known.mu.Unlock()
	delete(a.known.entries, key)
	if out != outcomeUnchanged || live == nil || live.GetResourceVersion() == "" {
		return
	}
	if isCRD(RefOf(o)) && !isEstablished(live) {
		return
	}
	if d, ok := digest(o); ok {
		a.known.entries[key] = memoEntry{digest: d, resourceVersion: live.GetResourceVersion()}
	}
}

// stillUnchanged returns the objects of objs that Apply remembers as equal to
// git, whose desired content is the same as then, and whose live
// resourceVersion has not moved since: a metadata list per kind, with the
// prune selector, tells. Any failure (a kind not mapped, a list refused)
// leaves the objects concerned out, to be compared in full.
func (a *Applier) stillUnchanged(ctx context.Context, objs []*unstructured.Unstructured) map[objectKey]bool {
	if !a.opts.RememberUnchanged {
		return nil
	}
	type candidate struct {
		key             objectKey
		resourceVersion string
	}
	byResource := map[schema.GroupVersionResource]map[string]candidate{} // namespace/name
	for _, o := range objs {
		ref := RefOf(o)
		a.known.mu.Lock()
		e, ok := a.known.entries[ref.key()]
		a.known.mu.Unlock()
		if !ok {
			continue
		}
		if d, ok := digest(o); !ok || d != e.digest {
			continue
		}
		m, err := a.mapping(ref.GroupVersionKind())
		if err != nil {
			continue
		}
		if byResource[m.Resource] == nil {
			byResource[m.Resource] = map[string]candidate{}
		}
		byResource[m.Resource][ref.Namespace+"/"+ref.Name] = candidate{ref.key(), e.resourceVersion}
	}

	out := map[objectKey]bool{}
	for gvr, candidates := range byResource {
		list, err := a.meta.Resource(gvr).List(ctx, metav1.ListOptions{LabelSelector: a.opts.PruneSelector.String()})
		if err != nil {
			continue
		}
		for _, item := range list.Items {
			c, ok := candidates[item.Namespace+"/"+item.Name]
			if ok && item.ResourceVersion == c.resourceVersion {
				out[c.key] = true
			}
		}
	}
	return out
}

// isEstablished reports whether live is a CRD with NamesAccepted and
// Established true.
func isEstablished(live *unstructured.Unstructured) bool {
	if live == nil {
		return false
	}
	ok, _ := established(live)
	return ok
}
