package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/compat"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// historyDepth bounds how many commits of main the agent reads to find the
// commit that approves a breaking schema change, when the head commit does
// not: a longer history is fetched only on that rare path.
const historyDepth = 50

// Historian reads commit messages of the state repository's history
// (source.Source does). Without one, only the head commit can approve a
// breaking change.
type Historian interface {
	Messages(ctx context.Context, rev staterepo.Revision, depth int) ([]string, error)
}

// checkRollbacks keeps out of bound the CRDs whose apply would change the
// live CRD in a breaking way without the state repository's approval. The
// backend checks every schema change it commits, but a revert of a schema
// commit or a force-push to an older head reaches the agent without any
// check, so the agent compares the live CRD with the one it is about to
// apply (internal/compat, as the backend does) whenever their schema
// hashes differ and the binding has not already applied this hash. A
// breaking change is applied only when the newest schema commit for that
// CRD (a commit with Bindsync-Schema-Hash: <crd>=<hash> and a
// Bindsync-Compat trailer), looking back from the head, names this very
// hash as breaking: the backend's commit of an approved or Always-policy
// change. Anything else (a revert, which carries no trailers; an older
// head, whose newest schema commit names an older hash as non-breaking)
// stays out with SchemaRollback, and the live CRD is kept.
func (a *Agent) checkRollbacks(ctx context.Context, p *pass, snap *source.Snapshot, bound []*unstructured.Unstructured) []*unstructured.Unstructured {
	keep := bound[:0]
	for _, o := range bound {
		why, err := a.rollbackOf(ctx, p, snap, o)
		switch {
		case err != nil:
			p.fail(o.GetName(), v1alpha1.ApplyFailedReason, err.Error())
		case why != "":
			p.fail(o.GetName(), v1alpha1.SchemaRollbackReason, why)
		default:
			keep = append(keep, o)
		}
	}
	return keep
}

// rollbackOf says why o is not applied over the live CRD, or "".
func (a *Agent) rollbackOf(ctx context.Context, p *pass, snap *source.Snapshot, o *unstructured.Unstructured) (string, error) {
	hash := o.GetAnnotations()[v1alpha1.SchemaHashAnnotation]
	if b := p.binding(o.GetName()); b != nil && b.Status.BoundSchemaHash == hash &&
		meta.IsStatusConditionTrue(b.Status.Conditions, v1alpha1.ReadyCondition) {
		return "", nil // this hash is the one applied last: nothing new to judge
	}
	var live apiextensionsv1.CustomResourceDefinition
	err := a.client.Get(ctx, client.ObjectKey{Name: o.GetName()}, &live)
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read CustomResourceDefinition %s to compare schemas: %w", o.GetName(), err)
	}
	ours := clusterSelector(a.opts.Cluster).Matches(labels.Set(live.Labels)) ||
		live.Annotations[v1alpha1.ReleasedAnnotation] == a.opts.Cluster
	liveHash := live.Annotations[v1alpha1.SchemaHashAnnotation]
	if !ours || liveHash == hash {
		return "", nil // foreign: the apply refuses it; same hash: same schema
	}
	var next apiextensionsv1.CustomResourceDefinition
	data, err := json.Marshal(o.Object)
	if err == nil {
		err = json.Unmarshal(data, &next)
	}
	if err != nil {
		return "", fmt.Errorf("decode CustomResourceDefinition %s: %w", o.GetName(), err)
	}
	report := compat.Compare(&live, &next)
	if !report.Breaking() {
		return "", nil
	}
	approved, err := a.approves(ctx, snap, o.GetName(), hash)
	if err != nil {
		return "", err
	}
	if approved {
		return "", nil
	}
	return fmt.Sprintf("CustomResourceDefinition %s at %s would change the live schema %s -> %s in a breaking way (%s), and no schema commit approves it "+
		"(a revert or an older head?): the live CRD is kept. To roll back on purpose, commit on %s with the trailers "+
		"'%s: %s=%s' and '%s: breaking: %s'",
		o.GetName(), snap.Revision, staterepo.ShortHash(liveHash, staterepo.ShortDigits), staterepo.ShortHash(hash, staterepo.ShortDigits), strings.Join(report.BreakingRules(), ", "),
		snap.Revision.Branch, staterepo.TrailerSchemaHash, o.GetName(), hash, staterepo.TrailerCompat, strings.Join(report.BreakingRules(), ", ")), nil
}

// approves reports whether the history from snap's head approves crd moving
// to hash as a breaking change: the newest commit that has a
// Bindsync-Schema-Hash trailer for crd and a Bindsync-Compat trailer names
// hash and says breaking. The head commit is read first; the history only
// when the head does not decide, once per revision.
func (a *Agent) approves(ctx context.Context, snap *source.Snapshot, crd, hash string) (bool, error) {
	if ok, decided := approvedBy(snap.Message, crd, hash); decided {
		return ok, nil
	}
	h, ok := a.src.(Historian)
	if !ok {
		return false, nil
	}
	if a.history.rev != snap.Revision {
		msgs, err := h.Messages(ctx, snap.Revision, historyDepth)
		if err != nil {
			return false, fmt.Errorf("read the history of %s to look for the approval of %s: %w", snap.Revision, crd, err)
		}
		a.history.rev, a.history.messages = snap.Revision, msgs
	}
	for _, m := range a.history.messages {
		if ok, decided := approvedBy(m, crd, hash); decided {
			return ok, nil
		}
	}
	return false, nil
}

// approvedBy reads one commit message: decided is true when it is a schema
// commit for crd (Bindsync-Schema-Hash names crd, Bindsync-Compat is set),
// and ok when that commit names hash as breaking.
func approvedBy(message, crd, hash string) (ok, decided bool) {
	m := staterepo.ParseMessage(message)
	verdict, hasCompat := m.Get(staterepo.TrailerCompat)
	if !hasCompat {
		return false, false
	}
	for _, t := range m.Trailers {
		if !strings.EqualFold(t.Key, staterepo.TrailerSchemaHash) {
			continue
		}
		name, h, _ := strings.Cut(t.Value, "=")
		if name != crd {
			continue
		}
		return h == hash && strings.HasPrefix(verdict, "breaking"), true
	}
	return false, false
}
