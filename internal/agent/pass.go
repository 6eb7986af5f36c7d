package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent/instances"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/apply"
)

// pass is what one Sync learned about each binding, before status is written.
type pass struct {
	opts     Options
	rev      string // revision built, "" when the source failed
	bindings []v1alpha1.APIServiceBinding
	// snap is the source phase's snapshot (nil when it failed); kept the
	// build phase's build of it (nil when it failed or was empty).
	snap   *source.Snapshot
	kept   []frozen
	states map[string]*outcome
	// built: the folder was built and every binding's outcome decided (the
	// source and the build did not fail), so the Ready ones are known.
	built bool
	// waiting: a deleted binding waits for the Syncer to release its
	// instances.
	waiting bool
}

// outcome is one binding's result in a pass. An empty reason is success.
type outcome struct {
	reason, message string
	crdName, hash   string
	orphaned        bool
	// released: the binding is being deleted and its CRD policy was carried
	// out, so its finalizer can go.
	released bool
	// api is the bound CRD's API for the instance sync (nil when its CRD
	// names no storage version).
	api *instances.API
}

func newPass(o Options, bindings []v1alpha1.APIServiceBinding) *pass {
	return &pass{opts: o, bindings: bindings, states: map[string]*outcome{}}
}

// binding returns the binding of that name, nil when there is none.
func (p *pass) binding(name string) *v1alpha1.APIServiceBinding {
	for i := range p.bindings {
		if p.bindings[i].Name == name {
			return &p.bindings[i]
		}
	}
	return nil
}

func (p *pass) state(name string) *outcome {
	s, ok := p.states[name]
	if !ok {
		s = &outcome{}
		p.states[name] = s
	}
	return s
}

func (p *pass) fail(name, reason, msg string) {
	s := p.state(name)
	s.reason, s.message = reason, msg
}

// failAll marks every live binding failed for a reason that concerns them all
// (the source or the build).
func (p *pass) failAll(reason, msg string) {
	for _, b := range p.bindings {
		if b.DeletionTimestamp == nil {
			p.fail(b.Name, reason, msg)
		}
	}
}

// selectBound splits objects of the build into the CRDs to apply and the
// refused rest: only CustomResourceDefinitions named like a live binding,
// rendered for this cluster. It may be called on the build part by part;
// exportsNotFound then marks the bindings none of the parts had.
func (p *pass) selectBound(objs []built) (bound []*unstructured.Unstructured, refused []Refusal) {
	sel := clusterSelector(p.opts.Cluster)
	for _, b := range objs {
		o := b.obj
		ref := apply.RefOf(o)
		refuse := func(why string) { refused = append(refused, Refusal{Ref: ref, File: b.file, Reason: why}) }
		if !isCRD(o) {
			refuse(fmt.Sprintf("kind %s: the agent applies only CustomResourceDefinitions", o.GetKind()))
			continue
		}
		binding := p.binding(o.GetName())
		if binding == nil || binding.DeletionTimestamp != nil {
			refuse("no APIServiceBinding of that name in this cluster")
			continue
		}
		if why := checkCRD(o, sel, p.opts.Cluster); why != "" {
			refuse(why)
			p.fail(binding.Name, v1alpha1.RefusedReason, fmt.Sprintf("%s in %s: %s; not applied", ref, fileOr(b.file, p.opts.Path), why))
			continue
		}
		s := p.state(binding.Name)
		s.crdName = o.GetName()
		s.hash = o.GetAnnotations()[v1alpha1.SchemaHashAnnotation]
		if api, err := apiOf(o); err == nil {
			s.api = &api
		}
		bound = append(bound, o)
	}
	return bound, refused
}

// exportsNotFound marks the live bindings that no object of the build
// selected ExportNotFound; it runs once, after selectBound saw the whole
// build.
func (p *pass) exportsNotFound() {
	for _, b := range p.bindings {
		if b.DeletionTimestamp != nil {
			continue
		}
		if _, seen := p.states[b.Name]; !seen {
			p.fail(b.Name, v1alpha1.ExportNotFoundReason, fmt.Sprintf("%s at %s holds no CustomResourceDefinition %s", p.opts.Path, p.rev, b.Name))
		}
	}
}

// checkCRD says why a CRD named like a binding is still refused: a name that
// is not <plural>.<group>, labels that are not this cluster's, or content
// render could not have written (checkRendered).
func checkCRD(o *unstructured.Unstructured, sel labels.Selector, cluster string) string {
	plural, _, _ := unstructured.NestedString(o.Object, "spec", "names", "plural")
	group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
	if o.GetName() != plural+"."+group {
		return fmt.Sprintf("its name is not <plural>.<group> (%s.%s)", plural, group)
	}
	if !sel.Matches(labels.Set(o.GetLabels())) {
		return fmt.Sprintf("it does not carry the labels %s", sel)
	}
	return checkRendered(o, cluster)
}

func fileOr(file, dir string) string {
	if file != "" {
		return file
	}
	return dir
}

// applied records the apply result of the bound CRDs on their bindings.
func (p *pass) applied(bound []*unstructured.Unstructured, res apply.Result) {
	failed := map[string]*apply.Failure{}
	for _, f := range res.Failed {
		if f.Ref.Kind == "CustomResourceDefinition" {
			failed[f.Ref.Name] = f
		}
	}
	for _, o := range bound {
		f, ok := failed[o.GetName()]
		if !ok {
			continue // success: the state has no reason
		}
		reason := v1alpha1.ApplyFailedReason
		switch {
		case errors.Is(f, apply.ErrForeign):
			reason = v1alpha1.ForeignCRDReason
		case errors.Is(f, apply.ErrNotEstablished):
			reason = v1alpha1.CRDNotEstablishedReason
		case errors.Is(f, apply.ErrNotLabelled):
			reason = v1alpha1.RefusedReason
		}
		p.fail(o.GetName(), reason, f.Error())
	}
}

// emptyFolder decides a pass whose folder built to no object (emptyErr).
// Nothing is ever released on an empty build. When this cluster has no
// managed CRD that is simply a cluster that binds nothing yet (a freshly
// onboarded one): the pass succeeds, and live bindings wait with
// ExportNotFound. When it has managed CRDs, an empty folder would release
// them all; that looks like a broken render rather than an intent, so the
// pass fails as a build does (BuildFailed), keeping everything.
func (a *Agent) emptyFolder(ctx context.Context, p *pass, emptyErr error) error {
	var crds metav1.PartialObjectMetadataList // names are all this needs, from the metadata cache
	crds.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinitionList"))
	if err := a.client.List(ctx, &crds, client.MatchingLabelsSelector{Selector: clusterSelector(p.opts.Cluster)}); err != nil {
		err = fmt.Errorf("%w; list managed CRDs: %w", emptyErr, err)
		p.failAll(v1alpha1.BuildFailedReason, err.Error())
		return err
	}
	if n := len(crds.Items); n > 0 {
		var names []string
		for _, c := range crds.Items[:min(n, 3)] {
			names = append(names, c.Name)
		}
		if n > 3 {
			names = append(names, "...")
		}
		err := fmt.Errorf("%w while %d CustomResourceDefinitions are managed for cluster %s (%s): nothing is released on an empty build",
			emptyErr, n, p.opts.Cluster, strings.Join(names, ", "))
		p.failAll(v1alpha1.BuildFailedReason, err.Error())
		return err
	}
	p.selectBound(nil)
	p.exportsNotFound()
	p.built = true
	return nil
}

// orphaned records that a live binding's CRD was released because its export
// left the folder.
func (p *pass) orphaned(name string) { p.state(name).orphaned = true }
