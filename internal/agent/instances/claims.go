package instances

import (
	"context"
	"fmt"
	"reflect"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// claimRef is one permission claim of a synced API's export.
type claimRef struct {
	binding string
	claim   v1alpha1.PermissionClaim
}

func (c claimRef) gvr() schema.GroupVersionResource {
	return schema.GroupVersionResource{Version: "v1", Resource: c.claim.Resource}
}

// copiedFields are the fields of a claimed object that are copied, by
// resource: the sync carries Secrets and ConfigMaps, the claimable core
// resources; claims on other resources grant access but copy nothing.
var copiedFields = map[string][]string{
	"secrets":    {"type", "data"},
	"configmaps": {"data", "binaryData"},
}

// claimsLocked returns the claims of every synced API's export on a
// resource the sync copies. Every synced object asks, so the list is kept
// until an export or the set of APIs changes (claimsChangedLocked): built
// afresh per object it cost an agent with 200 bound APIs most of its
// allocations and held the syncer's lock. Callers must not change it.
func (s *Syncer) claimsLocked() []claimRef {
	if s.claimsOK {
		return s.claims
	}
	var out []claimRef
	s.claimsRV = map[string]string{}
	for name, st := range s.apis {
		o := s.control.exports.get(s.clusterNs, name)
		if o != nil {
			s.claimsRV[name] = o.GetResourceVersion()
		}
		if o == nil || st.releasing != "" || !st.api.Namespaced {
			continue
		}
		for _, c := range s.exportClaimsLocked(o) {
			if _, ok := copiedFields[c.Resource]; ok && c.Group == "" {
				out = append(out, claimRef{binding: name, claim: c})
			}
		}
	}
	s.claims, s.claimsOK = out, true
	return out
}

// claimsChangedLocked drops the kept claims: an export changed, or an API
// started, stopped or is being released.
func (s *Syncer) claimsChangedLocked() { s.claims, s.claimsOK = nil, false }

// parsedClaims are an export's claims as of one resourceVersion: decoding
// an export on every sync would cost more than the sync.
type parsedClaims struct {
	resourceVersion string
	claims          []v1alpha1.PermissionClaim
}

func (s *Syncer) exportClaimsLocked(o *unstructured.Unstructured) []v1alpha1.PermissionClaim {
	if p, ok := s.claimCache[o.GetName()]; ok && p.resourceVersion == o.GetResourceVersion() {
		return p.claims
	}
	var e v1alpha1.APIServiceExport
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &e); err != nil {
		return nil
	}
	s.claimCache[o.GetName()] = parsedClaims{resourceVersion: o.GetResourceVersion(), claims: e.Spec.PermissionClaims}
	return e.Spec.PermissionClaims
}

// enqueueReferenced queues the claimed objects an app object names through
// a claim's references, so a Secret the provider writes after the app object
// was synced is found by its name.
func (s *Syncer) enqueueReferenced(api API, app *unstructured.Unstructured) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.claimsLocked() {
		for _, r := range c.claim.References {
			if r.Group == api.GVK.Group && r.Resource == api.Resource {
				if name := fieldString(app, r.JSONPath); name != "" {
					s.queue.Add(key{kind: claimKey, res: c.claim.Resource, ns: app.GetNamespace(), name: name})
				}
			}
		}
	}
}

// syncClaim copies one claimed object across when a claim selects it:
// a provider-owned one from the app namespace's instance namespace down
// into the app namespace, a consumer-owned one up. Only between the app
// namespace and its own instance namespace, only with the same name.
func (s *Syncer) syncClaim(ctx context.Context, k key) error {
	s.mu.Lock()
	instNs := s.nsOf[k.ns]
	claims := s.claimsLocked()
	gvr := schema.GroupVersionResource{Version: "v1", Resource: k.res}
	cpInf, appInf := s.cpInf[nsResource{gvr: gvr, ns: instNs}], s.appClaim[gvr]
	s.mu.Unlock()
	if instNs == "" || cpInf == nil {
		return nil // no claim on it yet: its informer's events bring it back
	}
	if !cpInf.synced() || (appInf != nil && !appInf.synced()) {
		// Compared with a cache that has not listed, every object would
		// look missing on the other side and be written again.
		return errNotSynced
	}
	cpObj, appObj := cpInf.get(instNs, k.name), appInf.get(k.ns, k.name)
	for _, owner := range []v1alpha1.ClaimOwner{v1alpha1.ClaimOwnerProvider, v1alpha1.ClaimOwnerConsumer} {
		src := cpObj
		if owner == v1alpha1.ClaimOwnerConsumer {
			src = appObj
		}
		if src == nil || !s.selected(claims, owner, k.res, k.ns, src) {
			continue
		}
		if err := s.copyClaimed(ctx, k, owner, src, instNs); err != nil {
			return err
		}
	}
	s.done(k)
	return nil
}

// selected reports whether a claim of owner on res selects obj (in app
// namespace appNs or its instance namespace): it passes every narrowing the
// claim sets (resourceNames, selector, references).
func (s *Syncer) selected(claims []claimRef, owner v1alpha1.ClaimOwner, res, appNs string, obj *unstructured.Unstructured) bool {
	for _, c := range claims {
		if c.claim.Resource != res || c.claim.OwnerOrDefault() != owner {
			continue
		}
		if len(c.claim.ResourceNames) > 0 && !slices.Contains(c.claim.ResourceNames, obj.GetName()) {
			continue
		}
		if c.claim.Selector != nil {
			sel, err := metav1.LabelSelectorAsSelector(c.claim.Selector)
			if err != nil || !sel.Matches(labels.Set(obj.GetLabels())) {
				continue
			}
		}
		if len(c.claim.References) > 0 && !s.referenced(c.claim.References, appNs, obj.GetName()) {
			continue
		}
		return true
	}
	return false
}

// referenced reports whether a bound object in appNs names name at one of
// refs' paths. Only app objects of the same namespace are read, so a path
// can never reach another namespace.
func (s *Syncer) referenced(refs []v1alpha1.ClaimReference, appNs, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range refs {
		for _, st := range s.apis {
			if st.api.GVK.Group != r.Group || st.api.Resource != r.Resource {
				continue
			}
			for _, o := range st.app.inNamespace(appNs) {
				if fieldString(o, r.JSONPath) == name {
					return true
				}
			}
		}
	}
	return false
}

// copyClaimed writes src's copied fields and carried labels and annotations
// to the other side, when they differ.
func (s *Syncer) copyClaimed(ctx context.Context, k key, owner v1alpha1.ClaimOwner, src *unstructured.Unstructured, instNs string) error {
	gvr := schema.GroupVersionResource{Version: "v1", Resource: k.res}
	dst := &unstructured.Unstructured{Object: map[string]any{}}
	dst.SetAPIVersion("v1")
	dst.SetKind(src.GetKind())
	dst.SetName(k.name)
	lbls := carriedMap(src.GetLabels())
	lbls[v1alpha1.ClusterLabel] = s.opts.Cluster
	annotations := carriedMap(src.GetAnnotations())
	for _, f := range copiedFields[k.res] {
		if v, ok := src.Object[f]; ok {
			dst.Object[f] = v
		}
	}
	c, ns, direction := s.app, k.ns, "down"
	var live *unstructured.Unstructured
	if owner == v1alpha1.ClaimOwnerConsumer {
		c, ns, direction = s.cp, instNs, "up"
		annotations[v1alpha1.ConsumerClusterAnnotation] = s.opts.Cluster
		annotations[v1alpha1.ConsumerNamespaceAnnotation] = k.ns
		annotations[v1alpha1.ConsumerNameAnnotation] = k.name
		annotations[v1alpha1.ConsumerUIDAnnotation] = string(src.GetUID())
		s.mu.Lock()
		live = s.cpInf[nsResource{gvr: gvr, ns: instNs}].get(instNs, k.name)
		s.mu.Unlock()
	} else {
		s.mu.Lock()
		live = s.appClaim[gvr].get(k.ns, k.name)
		s.mu.Unlock()
		if live == nil {
			// No informer of the app side for provider-owned objects:
			// read the one object.
			got, err := s.app.Resource(gvr).Namespace(k.ns).Get(ctx, k.name, metav1.GetOptions{})
			if err == nil {
				live = got
			} else if !isNotFound(err) {
				return fmt.Errorf("read %s %s/%s: %w", k.res, k.ns, k.name, err)
			}
		}
	}
	dst.SetNamespace(ns)
	dst.SetLabels(lbls)
	if len(annotations) > 0 {
		dst.SetAnnotations(annotations)
	}
	if live != nil {
		if live.GetLabels()[v1alpha1.ClusterLabel] != s.opts.Cluster {
			return fmt.Errorf("%s %s/%s exists and is not a copy bindsync made: not overwritten", k.res, ns, k.name)
		}
		if claimedUpToDate(live, dst, copiedFields[k.res]) {
			return nil
		}
	}
	if _, err := c.Resource(gvr).Namespace(ns).Apply(ctx, k.name, dst, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return fmt.Errorf("copy %s %s/%s %s: %w", k.res, ns, k.name, direction, err)
	}
	s.observe(k, direction)
	return nil
}

func claimedUpToDate(live, want *unstructured.Unstructured, fields []string) bool {
	for _, f := range fields {
		if !reflect.DeepEqual(live.Object[f], want.Object[f]) {
			return false
		}
	}
	return subset(want.GetLabels(), live.GetLabels()) && subset(want.GetAnnotations(), live.GetAnnotations())
}
