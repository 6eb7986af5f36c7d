package agent

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/apply"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// FieldManager is the agent's server-side apply field manager.
const FieldManager = "bindsync-agent"

// Source is what Sync needs of the state repository (see package source).
type Source interface {
	Get(ctx context.Context) (snap *source.Snapshot, fetched bool, err error)
}

// EventRecorder records Kubernetes events (client-go's record.EventRecorder
// satisfies it).
type EventRecorder interface {
	Eventf(object runtime.Object, eventtype, reason, messageFmt string, args ...any)
}

// Options configure an Agent.
type Options struct {
	// Cluster is this app cluster's name in the state repository. Required.
	Cluster string
	// Path is the folder to build (default clusters/<Cluster>/app).
	Path string
	// WaitEstablished bounds the wait for applied CRDs (default 30s).
	WaitEstablished time.Duration
	// Now is the clock for history entries (default time.Now).
	Now func() time.Time
	// Events records refusals and releases (nil: none).
	Events EventRecorder
	// ControlPlane, when set, is the cluster's ServiceAccount on the control
	// plane: the agent reports ConsumerInSync and the instance counts on its
	// APIServiceExports there, and (with SyncInstances) syncs instances.
	ControlPlane *rest.Config
	// SyncInstances turns instance sync on (`--sync-instances`, on by
	// default in the command). With ControlPlane, Instances syncs the
	// instances of every Ready binding; without it, every Ready binding gets
	// InstancesSynced=False NoControlPlane. Off: no InstancesSynced
	// condition at all (removed if present).
	SyncInstances bool
	// Instances is the instance sync, required with SyncInstances and
	// ControlPlane (NewManager makes it: instances.New, run by the manager).
	Instances InstanceSyncer
}

// Validate fills defaults and checks o.
func (o *Options) Validate() error {
	if o.Cluster == "" {
		return errors.New("agent: cluster name is required")
	}
	if o.Path == "" {
		o.Path = staterepo.AppDir(o.Cluster)
	}
	if o.WaitEstablished == 0 {
		o.WaitEstablished = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Agent syncs one app cluster from the state repository. Sync is safe to
// call from several goroutines; passes run one at a time.
type Agent struct {
	opts    Options
	src     Source
	client  client.Client
	meta    metadata.Interface
	applier *apply.Applier
	exports *exportWriter // nil without Options.ControlPlane

	mu               sync.Mutex
	lastRev          staterepo.Revision
	lastObjs         []frozen   // the build of lastRev
	files            fileBuilds // the last build, file by file
	refusalsRecorded string     // revision whose refusals were recorded as events
	// afterCount and beforeDelete, when set (by tests), run when a CRD to
	// delete for deletionPolicy Delete was first found without instances,
	// and right before it is deleted.
	afterCount, beforeDelete func(crd string)
	// history is the commit messages read for rev by approves.
	history struct {
		rev      staterepo.Revision
		messages []string
	}
}

// New returns an Agent writing to the cluster of cfg. c reads bindings and
// labelled CRDs (a manager's cached client, or a direct one) and writes
// binding status.
func New(cfg *rest.Config, c client.Client, src Source, o Options) (*Agent, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.instanceMode() == instancesSynced && o.Instances == nil {
		return nil, errNoSyncer
	}
	a, err := apply.New(cfg, apply.Options{
		FieldManager:    FieldManager,
		PruneSelector:   clusterSelector(o.Cluster),
		WaitEstablished: o.WaitEstablished,
		// Every pass applies the same bound CRDs: those found in sync
		// before, and untouched since (same resourceVersion), are not
		// read and compared again one by one.
		RememberUnchanged: true,
		// A CRD this cluster released is taken back when it is bound and
		// exported again (after the same checks as any update).
		ReleaseMarker: apply.Marker{Key: v1alpha1.ReleasedAnnotation, Value: o.Cluster},
	})
	if err != nil {
		return nil, err
	}
	m, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("agent: metadata client: %w", err)
	}
	ag := &Agent{opts: o, src: src, client: c, meta: m, applier: a}
	if o.ControlPlane != nil {
		if ag.exports, err = newExportWriter(o.ControlPlane, o.Cluster); err != nil {
			return nil, err
		}
	}
	return ag, nil
}

// clusterSelector selects what bindsync rendered for cluster.
func clusterSelector(cluster string) labels.Selector {
	return labels.SelectorFromSet(labels.Set{v1alpha1.ManagedLabel: "true", v1alpha1.ClusterLabel: cluster})
}

// Refusal is one object of the folder the agent did not apply.
type Refusal struct {
	Ref apply.ObjectRef
	// File is the repository path of the object's file, when known.
	File   string
	Reason string
}

func (r Refusal) String() string {
	if r.File == "" {
		return fmt.Sprintf("%s: %s", r.Ref, r.Reason)
	}
	return fmt.Sprintf("%s (%s): %s", r.Ref, r.File, r.Reason)
}

// Result is what one pass did.
type Result struct {
	// Revision built, zero when the source failed.
	Revision staterepo.Revision
	// Fetched says whether the pass fetched (the head moved).
	Fetched bool
	// Applied is the apply result of the bound CRDs.
	Applied apply.Result
	// Released lists CRDs orphaned or deleted.
	Released apply.Result
	// Refused lists objects of the folder that were not applied.
	Refused []Refusal
	// ReportErr is why reporting back to the control plane failed (nil:
	// it did not, or there is no control plane). It does not fail the pass.
	ReportErr error
	// Waiting says a deleted binding waits for its instances to be released
	// (the Syncer's Release is not done): the caller runs a pass again soon.
	Waiting bool
}

// build returns the build of snap, kept frozen (as JSON) between passes and
// reused for an unmoved head; the caller thaws it part by part.
func (a *Agent) build(snap *source.Snapshot) ([]frozen, error) {
	if a.lastObjs != nil && a.lastRev == snap.Revision {
		return a.lastObjs, nil
	}
	objs, ok := a.files.build(snap.FS, a.opts.Path)
	if !ok {
		a.files = fileBuilds{}
		whole, err := build(snap.FS, a.opts.Path)
		if err != nil {
			return nil, err
		}
		if objs, err = freezeAll(whole); err != nil {
			return nil, err
		}
	}
	a.lastRev, a.lastObjs = snap.Revision, objs
	return objs, nil
}

// recordRefusals records each refusal as a Warning event on the refused
// object, once per revision: a pass with nothing new writes nothing, events
// included.
func (a *Agent) recordRefusals(rev string, refused []Refusal) {
	if a.refusalsRecorded == rev {
		return
	}
	a.refusalsRecorded = rev
	if a.opts.Events == nil {
		return
	}
	for _, r := range refused {
		ref := &unstructured.Unstructured{}
		ref.SetGroupVersionKind(r.Ref.GroupVersionKind())
		ref.SetName(r.Ref.Name)
		ref.SetNamespace(r.Ref.Namespace)
		a.opts.Events.Eventf(ref, "Warning", v1alpha1.RefusedReason, "%s at %s: not applied", r, rev)
	}
}

// orphanUnexported releases the managed CRDs of this cluster that the build
// no longer holds, or whose binding is gone without the agent's finalizer:
// labels and field ownership dropped, CRD and instances kept. It runs only
// after a successful, non-empty build.
func (a *Agent) orphanUnexported(ctx context.Context, p *pass, objs []frozen) (apply.Result, error) {
	inGit := map[string]bool{}
	for _, f := range objs {
		if isCRD(f.head) {
			inGit[f.head.GetName()] = true
		}
	}
	var crds metav1.PartialObjectMetadataList // names are all this needs
	crds.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinitionList"))
	if err := a.client.List(ctx, &crds, client.MatchingLabelsSelector{Selector: clusterSelector(a.opts.Cluster)}); err != nil {
		return apply.Result{}, fmt.Errorf("list managed CRDs: %w", err)
	}
	var refs []apply.ObjectRef
	for _, c := range crds.Items {
		b := p.binding(c.Name)
		if b != nil && b.DeletionTimestamp != nil {
			continue // releaseDeleted applies its policy
		}
		if b != nil && inGit[c.Name] {
			continue
		}
		refs = append(refs, crdRef(c.Name))
		if b != nil {
			p.orphaned(c.Name)
		}
	}
	if len(refs) == 0 {
		return apply.Result{}, nil
	}
	res, err := a.applier.Orphan(ctx, refs)
	for _, r := range res.Orphaned {
		a.event(r, "Normal", v1alpha1.OrphanedReason, "%s released: no export or binding for it in %s; CRD and instances kept", r, p.rev)
	}
	return res, err
}

func (a *Agent) event(r apply.ObjectRef, kind, reason, msg string, args ...any) {
	if a.opts.Events == nil {
		return
	}
	ref := &unstructured.Unstructured{}
	ref.SetGroupVersionKind(r.GroupVersionKind())
	ref.SetName(r.Name)
	a.opts.Events.Eventf(ref, kind, reason, msg, args...)
}

func crdRef(name string) apply.ObjectRef {
	return apply.ObjectRef{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition", Name: name}
}

func isCRD(o *unstructured.Unstructured) bool {
	gvk := o.GroupVersionKind()
	return gvk.Group == "apiextensions.k8s.io" && gvk.Kind == "CustomResourceDefinition"
}

// ensureFinalizers adds the agent's finalizer to bindings that lack it, so
// that their deletionPolicy is applied before they go.
func (a *Agent) ensureFinalizers(ctx context.Context, bindings []v1alpha1.APIServiceBinding) error {
	var errs []error
	for i := range bindings {
		b := &bindings[i]
		if b.DeletionTimestamp != nil || hasFinalizer(b) {
			continue
		}
		patch := client.MergeFrom(b.DeepCopy())
		b.Finalizers = append(b.Finalizers, v1alpha1.AgentFinalizer)
		if err := a.client.Patch(ctx, b, patch); err != nil {
			errs = append(errs, fmt.Errorf("add finalizer to APIServiceBinding %s: %w", b.Name, err))
		}
	}
	return errors.Join(errs...)
}

func hasFinalizer(b *v1alpha1.APIServiceBinding) bool {
	for _, f := range b.Finalizers {
		if f == v1alpha1.AgentFinalizer {
			return true
		}
	}
	return false
}
