// Package bind implements `bindsync bind`: a developer asks for a template's
// APIs from the control plane and binds them into an app cluster.
package bind

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/cli/kube"
	"github.com/bindsync/bindsync/internal/staterepo"
)

// Defaults of bind.
const (
	DefaultTimeout = 5 * time.Minute
	pollInterval   = 250 * time.Millisecond
)

// ExitCodes is the table of exit codes bind documents in its help.
const ExitCodes = `Exit codes:
  0  the bindings are Ready (with --no-wait: the request is rendered and the bindings created)
  2  bad usage: bad flags or arguments, a missing kubeconfig or context
  3  timed out for another reason: the backend never answered (is bindsync backend running?),
     or a binding stayed not Ready (its reason is printed)
  4  TemplateNotFound: the control plane has no template of that name
  5  approval timed out: the request still waits on its bindsync/approve/ branch
  6  rejected: the approval branch was deleted, or the bind commit reverted on main
  7  agent not running: the bindings got no status from the app cluster's agent
  9  a cluster could not be reached (refused, unresolvable, TLS, --request-timeout)
 10  stalled: the request or a binding is Stalled, it needs a human (its reason and
     message are printed); bind stops at once instead of waiting out --timeout
 11  an API server refused a request (forbidden, invalid, ...)`

type flags struct {
	app, cp        kube.Config
	namespace      string
	name           string
	timeout        time.Duration
	noWait         bool
	deletionPolicy string
	output         string
}

// NewCommand returns `bindsync bind`.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "bind TEMPLATE --kubeconfig APP --control-plane-kubeconfig FILE [--timeout D] [--no-wait]",
		Short: "Ask the control plane for a template's APIs and bind them into an app cluster",
		Long: `bind creates an APIServiceExportRequest for TEMPLATE in the namespace of the
control-plane kubeconfig's context (the kubeconfig ` + "`bindsync cluster add`" + ` writes has the
cluster's namespace bindsync-<cluster>), follows it on stderr (rendered, pending approval
on its branch, approved), creates one APIServiceBinding per export in the app cluster
(named <plural>.<group>), and waits until the agent reports them Ready.

With --no-wait it stops once the request is rendered and the bindings are created; the
agent applies the CRDs when main holds them. Running bind again for the same template
reuses the request and bindings. The names of the bindings go to stdout (-o json|yaml:
the bindings; -o name: apiservicebinding.bindsync.io/NAME; -o wide: a table with each
binding's Ready reason, CRD and revision).

--kubeconfig, --context, --as and kubectl's other connection flags name the app cluster
(where bind creates the bindings); --control-plane-kubeconfig and --control-plane-context
name the control plane; --request-timeout bounds each request to either. -n names the
request's namespace on the control plane.

` + ExitCodes,
		Example: `  bindsync bind postgresql --kubeconfig app.kubeconfig --control-plane-kubeconfig team-a.kubeconfig
  bindsync bind postgresql --control-plane-kubeconfig team-a.kubeconfig --timeout 30m --deletion-policy Delete`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), f, args[0], stdout, stderr)
		},
	}
	fl := cmd.Flags()
	f.app.AddFlags(fl, "", "app cluster")
	f.cp.AddFlags(fl, "control-plane-", "control plane")
	f.cp.RequestTimeoutOf(&f.app)
	fl.StringVarP(&f.namespace, "namespace", "n", "", "namespace of the request on the control plane (default: the control-plane context's namespace)")
	fl.StringVar(&f.name, "name", "", "name of the request (default: the template's name)")
	fl.DurationVar(&f.timeout, "timeout", DefaultTimeout, "how long to wait for the request and the bindings, approval included")
	fl.BoolVar(&f.noWait, "no-wait", false, "return once the request is rendered and the bindings are created")
	fl.StringVar(&f.deletionPolicy, "deletion-policy", string(v1alpha1.DeletionOrphan), "what unbind does to the CRDs: Orphan keeps them, Delete removes them when they have no objects")
	fl.StringVarP(&f.output, "output", "o", "", "print the bindings as json, yaml, name or wide instead of their names")
	return cmd
}

func (f *flags) validate(template string) error {
	if errs := validation.IsDNS1123Subdomain(template); len(errs) > 0 {
		return fmt.Errorf("template name %q: %s", template, errs[0])
	}
	if f.name != "" {
		if errs := validation.IsDNS1123Subdomain(f.name); len(errs) > 0 {
			return fmt.Errorf("--name %q: %s", f.name, errs[0])
		}
	}
	if f.timeout <= 0 {
		return errors.New("--timeout must be positive")
	}
	switch v1alpha1.DeletionPolicy(f.deletionPolicy) {
	case v1alpha1.DeletionOrphan, v1alpha1.DeletionDelete:
	default:
		return fmt.Errorf("--deletion-policy %q is not Orphan or Delete", f.deletionPolicy)
	}
	return kube.CheckFormat(f.output, kube.ObjectFormats...)
}

// clients are the two clusters bind talks to.
type clients struct {
	app, cp   client.Client
	namespace string
}

func connect(f *flags) (*clients, error) {
	cp, err := f.cp.Load()
	if err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	app, err := f.app.Load()
	if err != nil {
		return nil, fmt.Errorf("app cluster: %w", err)
	}
	ns := f.namespace
	if ns == "" {
		ns = cp.Namespace
	}
	if !strings.HasPrefix(ns, v1alpha1.ClusterNamespacePrefix) {
		return nil, fmt.Errorf("namespace %q is no app cluster's namespace on the control plane (bindsync-<cluster>): use the kubeconfig `bindsync cluster add` wrote, or --namespace", ns)
	}
	out := &clients{namespace: ns}
	if out.cp, err = cp.Client(); err != nil {
		return nil, err
	}
	if out.app, err = app.Client(); err != nil {
		return nil, err
	}
	return out, nil
}

func run(ctx context.Context, f *flags, template string, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := f.validate(template); err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	cs, err := connect(f)
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	name := f.name
	if name == "" {
		name = template
	}
	deadline := time.Now().Add(f.timeout)
	created, err := ensureRequest(ctx, cs, name, template, stderr)
	if err != nil {
		return err
	}
	q, err := waitRequest(ctx, cs, name, deadline, f, stderr)
	if err != nil {
		var coded *exitcode.Error
		if created && errors.As(err, &coded) && coded.Code == exitcode.TemplateNotFound {
			// Nothing was rendered: the request is of no use, and bind again
			// with the right name should start clean.
			_ = cs.cp.Delete(ctx, q)
			fmt.Fprintf(stderr, "deleted APIServiceExportRequest %s/%s\n", cs.namespace, name)
		}
		return err
	}
	bindings, err := ensureBindings(ctx, cs, q, v1alpha1.DeletionPolicy(f.deletionPolicy), stderr)
	if err != nil {
		return err
	}
	if !f.noWait {
		if bindings, err = waitBindings(ctx, cs, bindings, deadline, f.timeout, stderr); err != nil {
			return err
		}
	}
	return printBindings(stdout, f.output, bindings)
}

// ensureRequest creates the request, or reuses one of that name for the
// same template. It reports whether it created it.
func ensureRequest(ctx context.Context, cs *clients, name, template string, stderr io.Writer) (bool, error) {
	q := &v1alpha1.APIServiceExportRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cs.namespace},
		Spec:       v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: template}},
	}
	err := cs.cp.Create(ctx, q)
	if err == nil {
		fmt.Fprintf(stderr, "created APIServiceExportRequest %s/%s for template %s\n", cs.namespace, name, template)
		return true, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return false, kube.Failed(fmt.Errorf("create APIServiceExportRequest %s/%s: %w", cs.namespace, name, err))
	}
	var have v1alpha1.APIServiceExportRequest
	if err := cs.cp.Get(ctx, client.ObjectKeyFromObject(q), &have); err != nil {
		return false, kube.Failed(fmt.Errorf("read APIServiceExportRequest %s/%s: %w", cs.namespace, name, err))
	}
	if have.Spec.TemplateRef.Name != template {
		return false, exitcode.New(exitcode.Unusable, fmt.Errorf("APIServiceExportRequest %s/%s exists for template %s, not %s: choose another --name",
			cs.namespace, name, have.Spec.TemplateRef.Name, template))
	}
	fmt.Fprintf(stderr, "APIServiceExportRequest %s/%s for template %s exists already\n", cs.namespace, name, template)
	return false, nil
}

// requestState is what bind reads from a request's status.
type requestState struct {
	observed  bool   // the backend wrote a status for this generation
	rendered  bool   // exports are in main or on the approval branch
	approved  bool   // main holds them
	pending   string // the approval branch, while waiting
	rejected  string // why, when rejected
	notFound  string // why, when the template does not exist
	failed    string // another reason the request cannot go on
	stalled   string // Stalled's reason and message: it needs a human
	lastState string // the Ready condition, for a timeout's message
}

// stateOf reads q's status.
func stateOf(q *v1alpha1.APIServiceExportRequest) requestState {
	var s requestState
	st := q.Status
	s.observed = st.ObservedGeneration > 0 && st.ObservedGeneration >= q.Generation
	if !s.observed {
		return s
	}
	rendered := meta.FindStatusCondition(st.Conditions, v1alpha1.RenderedCondition)
	approved := meta.FindStatusCondition(st.Conditions, v1alpha1.ApprovedCondition)
	ready := meta.FindStatusCondition(st.Conditions, v1alpha1.ReadyCondition)
	if ready != nil {
		s.lastState = fmt.Sprintf("Ready=%s %s: %s", ready.Status, ready.Reason, ready.Message)
	}
	for _, c := range []*metav1.Condition{rendered, ready} {
		if c != nil && c.Status != metav1.ConditionTrue && c.Reason == v1alpha1.TemplateNotFoundReason {
			s.notFound = c.Message
		}
	}
	s.rendered = rendered != nil && rendered.Status == metav1.ConditionTrue && len(st.Exports) > 0
	if approved != nil {
		switch {
		case approved.Status == metav1.ConditionTrue:
			s.approved = true
		case approved.Reason == v1alpha1.RejectedReason:
			s.rejected = approved.Message
		case approved.Reason == v1alpha1.PendingApprovalReason:
			s.pending = pendingBranch(st.Revision, approved.Message)
		}
	}
	if st.Phase == v1alpha1.RequestFailed && s.notFound == "" && s.rejected == "" && ready != nil {
		s.failed = fmt.Sprintf("%s: %s", ready.Reason, ready.Message)
	}
	if s.notFound == "" && s.rejected == "" {
		s.stalled = stalled(st.Conditions, q.Generation)
	}
	return s
}

// stalled is "reason: message" of a Stalled condition of the current
// generation in conds, or "". PendingApproval is no stall for bind: it
// waits for the approval (and exits 5 when --timeout runs out first).
func stalled(conds []metav1.Condition, generation int64) string {
	c := meta.FindStatusCondition(conds, v1alpha1.StalledCondition)
	if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration < generation || c.Reason == v1alpha1.PendingApprovalReason {
		return ""
	}
	return fmt.Sprintf("%s: %s", c.Reason, c.Message)
}

// pendingBranch is the approval branch of a pending request: its revision
// names it; else the condition's message does.
func pendingBranch(revision, message string) string {
	if r, err := staterepo.ParseRevision(revision); err == nil && r.Branch != "" {
		return r.Branch
	}
	for _, w := range strings.Fields(message) {
		if strings.HasPrefix(w, "bindsync/") {
			return w
		}
	}
	return "a bindsync/approve/ branch"
}

// waitRequest follows q until it is approved (or, with --no-wait,
// rendered), saying on stderr what changed.
func waitRequest(ctx context.Context, cs *clients, name string, deadline time.Time, f *flags, stderr io.Writer) (*v1alpha1.APIServiceExportRequest, error) {
	key := client.ObjectKey{Namespace: cs.namespace, Name: name}
	var said requestState
	for {
		var q v1alpha1.APIServiceExportRequest
		if err := cs.cp.Get(ctx, key, &q); err != nil {
			return &q, kube.Failed(fmt.Errorf("read APIServiceExportRequest %s: %w", key, err))
		}
		s := stateOf(&q)
		switch {
		case s.notFound != "":
			return &q, exitcode.New(exitcode.TemplateNotFound, fmt.Errorf("APIServiceExportRequest %s: TemplateNotFound: %s", key, s.notFound))
		case s.rejected != "":
			return &q, exitcode.New(exitcode.Rejected, fmt.Errorf("APIServiceExportRequest %s was rejected: %s", key, s.rejected))
		case s.failed != "":
			return &q, exitcode.New(exitcode.Stalled, fmt.Errorf("APIServiceExportRequest %s failed: %s", key, s.failed))
		case s.stalled != "":
			return &q, exitcode.New(exitcode.Stalled, fmt.Errorf("APIServiceExportRequest %s is Stalled: %s", key, s.stalled))
		}
		if s.rendered && !said.rendered {
			names := make([]string, 0, len(q.Status.Exports))
			for _, e := range q.Status.Exports {
				names = append(names, e.Name)
			}
			fmt.Fprintf(stderr, "rendered: %s\n", strings.Join(names, ", "))
		}
		if s.pending != "" && s.pending != said.pending {
			fmt.Fprintf(stderr, "pending approval: merge branch %s into main (bindsync approve %s --repo URL)\n", s.pending, s.pending)
		}
		if s.approved && s.rendered {
			fmt.Fprintf(stderr, "approved: %s\n", q.Status.Revision)
			return &q, nil
		}
		if f.noWait && s.rendered {
			return &q, nil
		}
		said = s
		if !time.Now().Before(deadline) {
			switch {
			case !s.observed:
				return &q, exitcode.New(exitcode.Timeout, fmt.Errorf("APIServiceExportRequest %s has no status after %s: is `bindsync backend` running against the control plane?", key, f.timeout))
			case s.pending != "":
				return &q, exitcode.New(exitcode.ApprovalTimedOut, fmt.Errorf("APIServiceExportRequest %s still waits for approval after %s: merge branch %s into main, then run bind again", key, f.timeout, s.pending))
			default:
				return &q, exitcode.New(exitcode.Timeout, fmt.Errorf("APIServiceExportRequest %s not approved after %s: %s", key, f.timeout, s.lastState))
			}
		}
		if err := sleep(ctx, deadline); err != nil {
			return &q, err
		}
	}
}

func sleep(ctx context.Context, deadline time.Time) error {
	d := min(pollInterval, time.Until(deadline))
	if d < 0 {
		d = 0
	}
	select {
	case <-ctx.Done():
		return exitcode.New(exitcode.Unusable, ctx.Err())
	case <-time.After(d):
		return nil
	}
}

// ensureBindings creates one binding per export of q.
func ensureBindings(ctx context.Context, cs *clients, q *v1alpha1.APIServiceExportRequest, policy v1alpha1.DeletionPolicy, stderr io.Writer) ([]v1alpha1.APIServiceBinding, error) {
	var out []v1alpha1.APIServiceBinding
	for _, e := range q.Status.Exports {
		b := v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: e.Name}, Spec: v1alpha1.APIServiceBindingSpec{DeletionPolicy: policy}}
		switch err := cs.app.Create(ctx, &b); {
		case err == nil:
			fmt.Fprintf(stderr, "created APIServiceBinding %s (deletionPolicy %s)\n", e.Name, policy)
		case apierrors.IsAlreadyExists(err):
			if err := cs.app.Get(ctx, client.ObjectKey{Name: e.Name}, &b); err != nil {
				return nil, kube.Failed(fmt.Errorf("read APIServiceBinding %s: %w", e.Name, err))
			}
			fmt.Fprintf(stderr, "APIServiceBinding %s exists already (deletionPolicy %s)\n", e.Name, b.Spec.DeletionPolicy)
		default:
			return nil, kube.Failed(fmt.Errorf("create APIServiceBinding %s in the app cluster: %w", e.Name, err))
		}
		out = append(out, b)
	}
	return out, nil
}

// waitBindings waits until every binding is Ready.
func waitBindings(ctx context.Context, cs *clients, bindings []v1alpha1.APIServiceBinding, deadline time.Time, timeout time.Duration, stderr io.Writer) ([]v1alpha1.APIServiceBinding, error) {
	said := map[string]string{}
	for {
		notReady := ""
		noStatus := []string{}
		for i := range bindings {
			b := &bindings[i]
			if err := cs.app.Get(ctx, client.ObjectKey{Name: b.Name}, b); err != nil {
				return nil, kube.Failed(fmt.Errorf("read APIServiceBinding %s: %w", b.Name, err))
			}
			if why := stalled(b.Status.Conditions, b.Generation); why != "" {
				return nil, exitcode.New(exitcode.Stalled, fmt.Errorf("APIServiceBinding %s is Stalled: %s", b.Name, why))
			}
			ready := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ReadyCondition)
			switch {
			case b.Status.ObservedGeneration <= 0 || ready == nil: // -1: defaulted, never written
				noStatus = append(noStatus, b.Name)
			case ready.Status == metav1.ConditionTrue && b.Status.ObservedGeneration >= b.Generation:
				if said[b.Name] != "Ready" {
					fmt.Fprintf(stderr, "ready: APIServiceBinding %s, CRD %s at %s\n", b.Name, b.Status.CRDName, b.Status.LastAppliedRevision)
					said[b.Name] = "Ready"
				}
			default:
				state := ready.Reason + ": " + ready.Message
				if said[b.Name] != state {
					fmt.Fprintf(stderr, "APIServiceBinding %s not Ready yet: %s\n", b.Name, state)
					said[b.Name] = state
				}
				notReady = fmt.Sprintf("APIServiceBinding %s is not Ready after %s: %s", b.Name, timeout, state)
			}
		}
		if notReady == "" && len(noStatus) == 0 {
			return bindings, nil
		}
		if !time.Now().Before(deadline) {
			if len(noStatus) > 0 {
				return nil, exitcode.New(exitcode.AgentNotRunning, fmt.Errorf("APIServiceBinding %s has no status after %s: is `bindsync agent` running in the app cluster?",
					strings.Join(noStatus, ", "), timeout))
			}
			return nil, exitcode.New(exitcode.Timeout, errors.New(notReady))
		}
		if err := sleep(ctx, deadline); err != nil {
			return nil, err
		}
	}
}

// printBindings writes the bindings to w in format: their names (the
// default), kubectl's -o name, a wide table, or a List in JSON or YAML.
func printBindings(w io.Writer, format string, bindings []v1alpha1.APIServiceBinding) error {
	switch format {
	case kube.Table:
		for _, b := range bindings {
			fmt.Fprintln(w, b.Name)
		}
		return nil
	case kube.Name:
		names := make([]string, 0, len(bindings))
		for _, b := range bindings {
			names = append(names, b.Name)
		}
		return kube.PrintNames(w, kube.Resource("APIServiceBinding"), names...)
	case kube.Wide:
		return printWide(w, bindings)
	}
	list := v1alpha1.APIServiceBindingList{TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "List"}}
	for _, b := range bindings {
		b.APIVersion, b.Kind = v1alpha1.GroupVersion.String(), "APIServiceBinding"
		b.ManagedFields = nil
		list.Items = append(list.Items, b)
	}
	return kube.Print(w, format, list)
}

// printWide writes a table: each binding's name, Ready status and reason,
// deletion policy, CRD and the revision the agent applied it at.
func printWide(w io.Writer, bindings []v1alpha1.APIServiceBinding) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tREADY\tREASON\tDELETION POLICY\tCRD\tREVISION")
	for _, b := range bindings {
		ready, reason := "-", "-"
		if c := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ReadyCondition); c != nil {
			ready, reason = string(c.Status), c.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.Name, ready, reason, dash(string(b.Spec.DeletionPolicy)),
			dash(b.Status.CRDName), dash(b.Status.LastAppliedRevision))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
