package agent

import (
	"context"
	"errors"
	"fmt"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent/instances"
)

// InstanceSyncer is what the agent asks of the instance sync (package
// instances; tests give a fake): which bound APIs are Ready, and the release
// of a deleted binding's instances before its CRD step.
type InstanceSyncer interface {
	// Set is given, after each pass whose source and build succeeded, the
	// APIs of the live bindings that are Ready.
	Set(apis []instances.API)
	// Release carries out a deleted binding's deletionPolicy on its
	// instances; done says nothing is left to wait for.
	Release(ctx context.Context, api instances.API, policy v1alpha1.DeletionPolicy) (done bool, err error)
}

// instanceMode is what the agent does about instances, and so about each
// binding's InstancesSynced condition.
type instanceMode int

const (
	// instancesOff (--sync-instances=false): no sync, no InstancesSynced
	// condition and no status.instances on any binding.
	instancesOff instanceMode = iota
	// instancesNoControlPlane: sync is on but the agent has no control-plane
	// kubeconfig; every Ready binding says so (NoControlPlane).
	instancesNoControlPlane
	// instancesSynced: the Syncer runs and writes InstancesSynced itself.
	instancesSynced
)

func (o *Options) instanceMode() instanceMode {
	switch {
	case !o.SyncInstances:
		return instancesOff
	case o.ControlPlane == nil:
		return instancesNoControlPlane
	}
	return instancesSynced
}

// noControlPlaneMessage is InstancesSynced's message without a control plane.
const noControlPlaneMessage = "instances are not synced: the agent runs without --control-plane-kubeconfig"

// setInstancesStatus applies the agent's part of a binding's instance
// status after a pass; ready says the binding is Ready in it. With the
// Syncer running the Syncer owns InstancesSynced and status.instances: the
// agent only drops a NoControlPlane left by an earlier run without a
// control plane.
func setInstancesStatus(st *v1alpha1.APIServiceBindingStatus, mode instanceMode, generation int64, ready bool) {
	switch mode {
	case instancesOff:
		meta.RemoveStatusCondition(&st.Conditions, v1alpha1.InstancesSyncedCondition)
		st.Instances = nil
	case instancesNoControlPlane:
		st.Instances = nil
		if ready {
			meta.SetStatusCondition(&st.Conditions, metav1.Condition{
				Type: v1alpha1.InstancesSyncedCondition, Status: metav1.ConditionFalse, ObservedGeneration: generation,
				Reason: v1alpha1.NoControlPlaneReason, Message: noControlPlaneMessage,
			})
		}
	case instancesSynced:
		if c := meta.FindStatusCondition(st.Conditions, v1alpha1.InstancesSyncedCondition); c != nil && c.Reason == v1alpha1.NoControlPlaneReason {
			meta.RemoveStatusCondition(&st.Conditions, v1alpha1.InstancesSyncedCondition)
		}
	}
}

// apiOf is the instance-sync API of a CRD (as applied, or as read): its
// storage version and kind, plural and scope.
func apiOf(crd *unstructured.Unstructured) (instances.API, error) {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	scope, _, _ := unstructured.NestedString(crd.Object, "spec", "scope")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	storage := ""
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if s, _ := m["storage"].(bool); s {
			storage, _ = m["name"].(string)
		}
	}
	if kind == "" || plural == "" || storage == "" {
		return instances.API{}, fmt.Errorf("CustomResourceDefinition %s: no kind, plural or storage version", crd.GetName())
	}
	return instances.API{
		Binding:    crd.GetName(),
		GVK:        schema.GroupVersionKind{Group: group, Version: storage, Kind: kind},
		Resource:   plural,
		Namespaced: scope != string(apiextensionsv1.ClusterScoped),
	}, nil
}

// apiOfTyped is apiOf for a CRD read from the API server.
func apiOfTyped(crd *apiextensionsv1.CustomResourceDefinition) (instances.API, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(crd)
	if err != nil {
		return instances.API{}, fmt.Errorf("CustomResourceDefinition %s: %w", crd.Name, err)
	}
	return apiOf(&unstructured.Unstructured{Object: m})
}

// readyAPIs are the APIs to sync after the pass: those of the live
// bindings that are Ready (their CRD applied and Established), in binding
// order. Bindings being deleted are not among them: Release decides what
// happens to their instances.
func (p *pass) readyAPIs() []instances.API {
	var apis []instances.API
	for _, b := range p.bindings {
		s, ok := p.states[b.Name]
		if b.DeletionTimestamp != nil || !ok || s.reason != "" || s.orphaned || s.api == nil {
			continue
		}
		apis = append(apis, *s.api)
	}
	return apis
}

// releaseInstances runs the Syncer's Release for a deleted binding before
// its CRD step. A CRD bindsync does not manage is released with Orphan
// whatever the binding says: its objects are never deleted. It returns
// false while the Syncer has not finished (the binding then keeps its
// finalizer and says it waits, and the pass asks to be run again soon).
func (a *Agent) releaseInstances(ctx context.Context, p *pass, b *v1alpha1.APIServiceBinding, crd *apiextensionsv1.CustomResourceDefinition, ours bool) (bool, error) {
	api, err := apiOfTyped(crd)
	if err != nil {
		return false, err
	}
	policy := v1alpha1.DeletionOrphan
	if ours && b.Spec.DeletionPolicy == v1alpha1.DeletionDelete {
		policy = v1alpha1.DeletionDelete
	}
	done, err := a.opts.Instances.Release(ctx, api, policy)
	if err != nil {
		return false, fmt.Errorf("release the instances of %s (deletionPolicy %s): %w", crd.Name, policy, err)
	}
	if done {
		return true, nil
	}
	s := p.state(b.Name)
	s.reason = v1alpha1.InstancesExistReason
	if policy == v1alpha1.DeletionDelete {
		s.message = fmt.Sprintf("deletionPolicy Delete: deleting the instances of %s first (each provider copy goes before its app object); the CustomResourceDefinition is deleted after them", crd.Name)
	} else {
		s.message = fmt.Sprintf("deletionPolicy Orphan: releasing the instances of %s (removing bindsync's finalizers; provider copies are kept) before the CustomResourceDefinition is released", crd.Name)
	}
	p.waiting = true
	return false, nil
}

// errNoSyncer: instance sync with a control plane needs a Syncer.
var errNoSyncer = errors.New("agent: instance sync with a control plane needs Options.Instances (NewManager makes one)")
