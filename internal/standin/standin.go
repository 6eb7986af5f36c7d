// Package standin is a stand-in for a real provider (Crossplane and its
// compositions) on the control plane, for the demo, the end-to-end test and
// the benchmark. It provisions nothing: for each object of the resources it
// watches it adds its finalizer, writes a connection Secret (named by
// .spec.writeConnectionSecretToRef.name, default <name>-conn) next to the
// object, sets .spec.resourceRef (a field the provider owns, as Crossplane's
// claims have) and marks the object Ready in .status. On deletion it waits a
// configurable deprovisioning delay, deletes the Secret and removes its
// finalizer, so the object goes as a real database would: late.
//
// It is never part of what bindsync ships; hack/standin-provider runs it as
// a process.
package standin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/client-go/util/workqueue"
)

const (
	// Finalizer is the stand-in provider's finalizer on the objects it
	// provisions: it holds them for the deprovisioning delay.
	Finalizer = "standin.bindsync.io/deprovision"
	// FieldManager is the field manager of every write the stand-in makes.
	FieldManager = "standin-provider"
	// ProvisionedLabel marks the connection Secrets the stand-in wrote.
	ProvisionedLabel = "standin.bindsync.io/provisioned-for"
	// ReadyReason is the reason of the Ready condition it sets.
	ReadyReason = "Available"
)

// Options configure the stand-in provider.
type Options struct {
	// Config reaches the control plane.
	Config *rest.Config
	// Resources are the namespaced resources to provision, each at the
	// version the stand-in reads and writes (the CRD's storage version).
	Resources []schema.GroupVersionResource
	// Selector narrows the objects it provisions, as a label selector
	// ("bindsync.io/cluster": only the copies the agent makes); "" is all.
	Selector string
	// Namespace limits it to one namespace; "" is all namespaces.
	Namespace string
	// Deprovision is how long a deleted object is held (after its
	// deletionTimestamp) before its Secret goes and its finalizer is
	// removed.
	Deprovision time.Duration
	// Workers is how many objects are handled at once (0: 4).
	Workers int
	// Log receives one line per object provisioned or deprovisioned.
	Log logr.Logger
}

// Validate checks the options and fills defaults.
func (o *Options) Validate() error {
	if o.Config == nil {
		return errors.New("standin: a control-plane config is required")
	}
	if len(o.Resources) == 0 {
		return errors.New("standin: at least one resource is required")
	}
	for _, r := range o.Resources {
		if r.Resource == "" || r.Version == "" {
			return fmt.Errorf("standin: resource %q: resource and version are required", r.String())
		}
	}
	if o.Deprovision < 0 {
		return fmt.Errorf("standin: deprovisioning delay %s is negative", o.Deprovision)
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	return nil
}

// key is one object of one watched resource.
type key struct {
	resource  int // index in Options.Resources
	namespace string
	name      string
}

func (k key) String() string { return k.namespace + "/" + k.name }

// Provider is a running stand-in provider.
type Provider struct {
	opts  Options
	dyn   dynamic.Interface
	core  kubernetes.Interface
	queue workqueue.TypedRateLimitingInterface[key]
}

// New returns a stand-in provider; Run runs it.
func New(o Options) (*Provider, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(o.Config)
	if err != nil {
		return nil, fmt.Errorf("standin: dynamic client: %w", err)
	}
	core, err := kubernetes.NewForConfig(o.Config)
	if err != nil {
		return nil, fmt.Errorf("standin: client: %w", err)
	}
	return &Provider{opts: o, dyn: dyn, core: core,
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[key]())}, nil
}

// Run provisions and deprovisions until ctx ends. Call it once.
func (p *Provider) Run(ctx context.Context) error {
	defer p.queue.ShutDown()
	var synced []cache.InformerSynced

	factory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(p.dyn, 0, p.opts.Namespace,
		func(lo *metav1.ListOptions) { lo.LabelSelector = p.opts.Selector })
	for i, gvr := range p.opts.Resources {
		inf := factory.ForResource(gvr).Informer()
		enqueue := func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if u, ok := obj.(*unstructured.Unstructured); ok {
				p.queue.Add(key{resource: i, namespace: u.GetNamespace(), name: u.GetName()})
			}
		}
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: enqueue, UpdateFunc: func(_, n any) { enqueue(n) }, DeleteFunc: enqueue,
		}); err != nil {
			return fmt.Errorf("standin: watch %s: %w", gvr, err)
		}
		synced = append(synced, inf.HasSynced)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("standin: caches of %v did not sync: %w", p.opts.Resources, ctx.Err())
	}
	p.opts.Log.Info("stand-in provider running (it provisions nothing: it stands in for Crossplane)",
		"resources", fmt.Sprint(p.opts.Resources), "selector", p.opts.Selector, "deprovision", p.opts.Deprovision.String())
	var wg sync.WaitGroup
	for range p.opts.Workers {
		wg.Go(func() {
			for p.next(ctx) {
			}
		})
	}
	<-ctx.Done()
	p.queue.ShutDown()
	wg.Wait()
	return nil
}

// next handles one queued object; false once the queue is shut down.
func (p *Provider) next(ctx context.Context) bool {
	k, quit := p.queue.Get()
	if quit {
		return false
	}
	defer p.queue.Done(k)
	after, err := p.reconcile(ctx, k)
	switch {
	case err != nil && ctx.Err() == nil:
		p.opts.Log.Error(err, "stand-in provider", "resource", p.opts.Resources[k.resource].Resource, "object", k.String())
		p.queue.AddRateLimited(k)
	case after > 0:
		p.queue.Forget(k)
		p.queue.AddAfter(k, after)
	default:
		p.queue.Forget(k)
	}
	return true
}

// reconcile provisions or deprovisions one object; a positive duration asks
// to be called again after it (the deprovisioning delay still running).
func (p *Provider) reconcile(ctx context.Context, k key) (time.Duration, error) {
	gvr := p.opts.Resources[k.resource]
	res := p.dyn.Resource(gvr).Namespace(k.namespace)
	obj, err := res.Get(ctx, k.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get %s %s: %w", gvr.Resource, k, err)
	}
	if obj.GetDeletionTimestamp() != nil {
		return p.deprovision(ctx, res, obj)
	}
	return 0, p.provision(ctx, res, obj)
}

// provision adds the finalizer, writes the connection Secret, sets
// spec.resourceRef and marks the object Ready; each step only when missing.
func (p *Provider) provision(ctx context.Context, res dynamic.ResourceInterface, obj *unstructured.Unstructured) error {
	what := obj.GetKind() + " " + obj.GetNamespace() + "/" + obj.GetName()
	if !slices.Contains(obj.GetFinalizers(), Finalizer) {
		if err := p.editFinalizers(ctx, res, obj.GetName(), func(f []string) []string {
			if slices.Contains(f, Finalizer) {
				return f
			}
			return append(f, Finalizer)
		}); err != nil {
			return fmt.Errorf("add finalizer to %s: %w", what, err)
		}
	}
	if err := p.writeSecret(ctx, obj); err != nil {
		return fmt.Errorf("connection secret of %s: %w", what, err)
	}
	if _, found, _ := unstructured.NestedMap(obj.Object, "spec", "resourceRef"); !found {
		if err := p.setResourceRef(ctx, res, obj); err != nil {
			return fmt.Errorf("set spec.resourceRef of %s: %w", what, err)
		}
	}
	if ready(obj) {
		return nil
	}
	if err := p.markReady(ctx, res, obj); err != nil {
		return fmt.Errorf("mark %s Ready: %w", what, err)
	}
	p.opts.Log.Info("provisioned", "object", what, "secret", SecretName(obj))
	return nil
}

// deprovision holds the object until its deletionTimestamp plus the delay,
// then deletes its Secret and removes the finalizer.
func (p *Provider) deprovision(ctx context.Context, res dynamic.ResourceInterface, obj *unstructured.Unstructured) (time.Duration, error) {
	if !slices.Contains(obj.GetFinalizers(), Finalizer) {
		return 0, nil
	}
	what := obj.GetKind() + " " + obj.GetNamespace() + "/" + obj.GetName()
	if wait := time.Until(obj.GetDeletionTimestamp().Add(p.opts.Deprovision)); wait > 0 {
		return wait, nil
	}
	err := p.core.CoreV1().Secrets(obj.GetNamespace()).Delete(ctx, SecretName(obj), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("delete connection secret of %s: %w", what, err)
	}
	if err := p.editFinalizers(ctx, res, obj.GetName(), func(f []string) []string {
		return slices.DeleteFunc(f, func(s string) bool { return s == Finalizer })
	}); err != nil && !apierrors.IsNotFound(err) {
		return 0, fmt.Errorf("remove finalizer of %s: %w", what, err)
	}
	p.opts.Log.Info("deprovisioned", "object", what)
	return 0, nil
}

// editFinalizers rewrites the object's finalizers with edit, retrying on
// conflicts with a fresh read (other finalizers are kept as they are).
func (p *Provider) editFinalizers(ctx context.Context, res dynamic.ResourceInterface, name string, edit func([]string) []string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := res.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		before := cur.GetFinalizers()
		after := edit(slices.Clone(before))
		if slices.Equal(before, after) {
			return nil
		}
		cur.SetFinalizers(after)
		_, err = res.Update(ctx, cur, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
}

// SecretName is the name of obj's connection Secret:
// .spec.writeConnectionSecretToRef.name, or <name>-conn without it.
func SecretName(obj *unstructured.Unstructured) string {
	if n, _, _ := unstructured.NestedString(obj.Object, "spec", "writeConnectionSecretToRef", "name"); n != "" {
		return n
	}
	return obj.GetName() + "-conn"
}

// writeSecret creates the connection Secret when it does not exist yet; an
// existing one keeps its password.
func (p *Provider) writeSecret(ctx context.Context, obj *unstructured.Unstructured) error {
	secrets := p.core.CoreV1().Secrets(obj.GetNamespace())
	name := SecretName(obj)
	_, err := secrets.Get(ctx, name, metav1.GetOptions{})
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	password := make([]byte, 12)
	if _, err := rand.Read(password); err != nil {
		return err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: obj.GetNamespace(),
			Labels: map[string]string{ProvisionedLabel: obj.GetName()}},
		Type: corev1.SecretTypeOpaque,
		StringData: map[string]string{
			"host":     obj.GetName() + "." + obj.GetNamespace() + ".standin.invalid",
			"port":     "5432",
			"username": "app",
			"password": hex.EncodeToString(password),
		},
	}
	_, err = secrets.Create(ctx, s, metav1.CreateOptions{FieldManager: FieldManager})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// setResourceRef applies .spec.resourceRef as the provider's own field (a
// composite resource, as Crossplane records it): the app never sets it, and
// the agent must never take it away.
func (p *Provider) setResourceRef(ctx context.Context, res dynamic.ResourceInterface, obj *unstructured.Unstructured) error {
	patch := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": obj.GetAPIVersion(), "kind": obj.GetKind(),
		"metadata": map[string]any{"name": obj.GetName(), "namespace": obj.GetNamespace()},
		"spec": map[string]any{"resourceRef": map[string]any{
			"apiVersion": obj.GroupVersionKind().Group + "/v1", "kind": "X" + obj.GetKind(),
			"name": obj.GetNamespace() + "-" + obj.GetName(),
		}},
	}}
	_, err := res.Apply(ctx, obj.GetName(), patch, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	return err
}

// markReady writes Ready=True and Synced=True conditions, the time the
// connection details were published and a managed-resource summary, in one
// status apply of the provider's own fields.
func (p *Provider) markReady(ctx context.Context, res dynamic.ResourceInterface, obj *unstructured.Unstructured) error {
	now := time.Now().UTC().Format(time.RFC3339)
	cond := func(typ, reason, msg string) map[string]any {
		return map[string]any{"type": typ, "status": "True", "reason": reason, "message": msg, "lastTransitionTime": now}
	}
	patch := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": obj.GetAPIVersion(), "kind": obj.GetKind(),
		"metadata": map[string]any{"name": obj.GetName(), "namespace": obj.GetNamespace()},
		"status": map[string]any{
			"conditions": []any{
				cond("Ready", ReadyReason, "provisioned by the stand-in provider (no database exists)"),
				cond("Synced", "ReconcileSuccess", ""),
			},
			"connectionDetails": map[string]any{"lastPublishedTime": now},
			"managed":           map[string]any{"provider": "standin", "secret": SecretName(obj)},
		},
	}}
	_, err := res.ApplyStatus(ctx, obj.GetName(), patch, metav1.ApplyOptions{FieldManager: FieldManager, Force: true})
	return err
}

// ready says whether obj's status has Ready=True.
func ready(obj *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if ok && m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}
