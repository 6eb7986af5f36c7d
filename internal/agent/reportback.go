package agent

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// exportWriter reports back to the control plane: it writes ConsumerInSync,
// consumerRevision and the instance counts on this cluster's
// APIServiceExports there, with the cluster's ServiceAccount:
// the rendered Role lets it read its exports and update their status, in its
// own namespace only, and that is all this uses.
type exportWriter struct {
	client    client.Client
	namespace string
}

func newExportWriter(cfg *rest.Config, cluster string) (*exportWriter, error) {
	c, err := client.New(cfg, client.Options{Scheme: newScheme()})
	if err != nil {
		return nil, fmt.Errorf("agent: control-plane client: %w", err)
	}
	return &exportWriter{client: c, namespace: v1alpha1.ClusterNamespacePrefix + cluster}, nil
}

// writePass writes, on each export named like a binding of the pass, whether
// the app cluster applied it, and the binding's instance counts
// (status.instances, as the pass read the binding; between passes
// writeCounts follows the Syncer's changes). Exports without a binding here
// are left alone. Only a status that changed is written.
func (r *exportWriter) writePass(ctx context.Context, p *pass) error {
	if p.rev == "" {
		return nil // the source failed: nothing new to say about any export
	}
	var exports v1alpha1.APIServiceExportList
	if err := r.client.List(ctx, &exports, client.InNamespace(r.namespace)); err != nil {
		return fmt.Errorf("report back: list APIServiceExports in %s: %w", r.namespace, err)
	}
	var errs []error
	for i := range exports.Items {
		e := &exports.Items[i]
		s, ok := p.states[e.Name]
		if !ok || s.released {
			continue
		}
		next := e.Status.DeepCopy()
		next.ObservedGeneration = e.Generation
		cond := metav1.Condition{Type: v1alpha1.ConsumerInSyncCondition, ObservedGeneration: e.Generation}
		if s.reason == "" {
			next.ConsumerRevision = p.rev
			cond.Status, cond.Reason = metav1.ConditionTrue, v1alpha1.SucceededReason
			cond.Message = fmt.Sprintf("applied at %s, schema %s", p.rev, staterepo.ShortHash(s.hash, staterepo.ShortDigits))
		} else {
			cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, s.reason, s.message
		}
		meta.SetStatusCondition(&next.Conditions, cond)
		next.Instances = nil
		if b := p.binding(e.Name); b != nil && b.Status.Instances != nil {
			next.Instances = b.Status.Instances.DeepCopy()
		}
		if equality.Semantic.DeepEqual(&e.Status, next) {
			continue
		}
		e.Status = *next
		if err := r.client.Status().Update(ctx, e); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("report back: update status of APIServiceExport %s/%s: %w", e.Namespace, e.Name, err))
		}
	}
	return errors.Join(errs...)
}

// writeCounts copies one binding's instance counts onto its export as soon
// as the Syncer changed them, without waiting for a pass: the export then
// never lags behind the binding, and an agent restarted with nothing new
// finds them equal and writes nothing. A binding without an export here is
// left alone; only a change is written.
func (r *exportWriter) writeCounts(ctx context.Context, b *v1alpha1.APIServiceBinding) error {
	var e v1alpha1.APIServiceExport
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: r.namespace, Name: b.Name}, &e); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("report instance counts: read APIServiceExport %s/%s: %w", r.namespace, b.Name, err)
	}
	var counts *v1alpha1.InstanceCounts
	if b.Status.Instances != nil {
		counts = b.Status.Instances.DeepCopy()
	}
	if equality.Semantic.DeepEqual(e.Status.Instances, counts) {
		return nil
	}
	e.Status.Instances = counts
	if err := r.client.Status().Update(ctx, &e); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("report instance counts: update status of APIServiceExport %s/%s: %w", e.Namespace, e.Name, err)
	}
	return nil
}

// ReportInstances copies binding name's instance counts onto its export on
// the control plane (exportWriter.writeCounts); without a control plane it does
// nothing. The manager calls it when a binding's status.instances changes.
func (a *Agent) ReportInstances(ctx context.Context, name string) error {
	if a.exports == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	var b v1alpha1.APIServiceBinding
	if err := a.client.Get(ctx, client.ObjectKey{Name: name}, &b); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("report instance counts: read APIServiceBinding %s: %w", name, err)
	}
	if b.DeletionTimestamp != nil {
		return nil // being released: the passes say what happens to its export
	}
	return a.exports.writeCounts(ctx, &b)
}
