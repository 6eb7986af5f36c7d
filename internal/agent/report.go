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
)

// reporter writes ConsumerInSync, consumerRevision and the instance counts
// on this cluster's APIServiceExports on the control plane, with the
// cluster's ServiceAccount:
// the rendered Role lets it read its exports and update their status, in its
// own namespace only, and that is all this uses.
type reporter struct {
	client    client.Client
	namespace string
}

func newReporter(cfg *rest.Config, cluster string) (*reporter, error) {
	c, err := client.New(cfg, client.Options{Scheme: newScheme()})
	if err != nil {
		return nil, fmt.Errorf("agent: control-plane client: %w", err)
	}
	return &reporter{client: c, namespace: v1alpha1.ClusterNamespacePrefix + cluster}, nil
}

// report writes, on each export named like a binding of the pass, whether
// the app cluster applied it, and the binding's instance counts
// (status.instances, as the pass read the binding: the Syncer writes them
// between passes, so the export follows within one interval). Exports
// without a binding here are left alone. Only a status that changed is
// written.
func (r *reporter) report(ctx context.Context, p *pass) error {
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
			cond.Message = fmt.Sprintf("applied at %s, schema %s", p.rev, shortHash(s.hash))
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
