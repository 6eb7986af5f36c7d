// Package unbind implements `bindsync unbind`: the reverse of bind.
package unbind

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/cli/kube"
)

// DefaultTimeout bounds the wait for the agent to carry out the bindings'
// deletion policies.
const (
	DefaultTimeout = 2 * time.Minute
	pollInterval   = 250 * time.Millisecond
)

type flags struct {
	app, cp   kube.Config
	namespace string
	timeout   time.Duration
	output    string
}

// NewCommand returns `bindsync unbind`.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	f := &flags{}
	cmd := &cobra.Command{
		Use:   "unbind NAME --kubeconfig APP --control-plane-kubeconfig FILE",
		Short: "Remove a bind: its APIServiceBindings in the app cluster and its request on the control plane",
		Long: `unbind deletes the APIServiceBindings of the APIServiceExportRequest NAME (bind names
it after the template) in the app cluster, waits until the agent has carried out each
binding's deletionPolicy, then deletes the request, so the backend unbinds it on main:

  Orphan (default)  the CRD and its objects stay in the app cluster, released from bindsync
  Delete            the agent deletes the CRD, only when no objects of it are left; else it
                    keeps it (InstancesExist) and the binding waits until they are gone

The request is kept while a binding is still there, so a Delete policy is never skipped:
run unbind again once the agent has finished.

The names of the deleted bindings go to stdout (-o name: apiservicebinding.bindsync.io/NAME).
Connection flags as in bind: kubectl's (--kubeconfig, --context, --as, --request-timeout ...)
name the app cluster, --control-plane-kubeconfig and --control-plane-context the control plane.

Exit codes: 0 done; 2 bad flags or an unknown request; 3 a Delete binding
is held because objects of its CRD exist (InstancesExist); 7 the agent did
not finish the bindings' deletion within --timeout (is bindsync agent running?);
9 a cluster could not be reached; 11 an API server refused a request (a delete, say).`,
		Example: `  bindsync unbind postgresql --kubeconfig app.kubeconfig --control-plane-kubeconfig team-a.kubeconfig`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), f, args[0], stdout, stderr)
		},
	}
	fl := cmd.Flags()
	f.app.AddFlags(fl, "", "app cluster")
	f.cp.AddFlags(fl, "control-plane-", "control plane")
	f.cp.RequestTimeoutOf(&f.app)
	fl.StringVarP(&f.namespace, "namespace", "n", "", "namespace of the request on the control plane (default: the control-plane context's namespace)")
	fl.DurationVar(&f.timeout, "timeout", DefaultTimeout, "how long to wait for the agent to remove the bindings")
	fl.StringVarP(&f.output, "output", "o", "", "name: print the deleted bindings as apiservicebinding.bindsync.io/NAME")
	return cmd
}

// Policy says in words what the agent does when a binding of policy goes.
func Policy(crd string, p v1alpha1.DeletionPolicy) string {
	if p == v1alpha1.DeletionDelete {
		return fmt.Sprintf("deletionPolicy Delete: the agent deletes CRD %s if no objects of it are left; otherwise it keeps it until they are gone", crd)
	}
	return fmt.Sprintf("deletionPolicy Orphan: CRD %s and its objects stay in the app cluster, released from bindsync", crd)
}

func run(ctx context.Context, f *flags, name string, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return exitcode.New(exitcode.Unusable, fmt.Errorf("request name %q: %s", name, errs[0]))
	}
	if f.timeout <= 0 {
		return exitcode.New(exitcode.Unusable, errors.New("--timeout must be positive"))
	}
	if err := kube.CheckFormat(f.output, kube.Name); err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	cpl, err := f.cp.Load()
	if err != nil {
		return exitcode.New(exitcode.Unusable, fmt.Errorf("control plane: %w", err))
	}
	appl, err := f.app.Load()
	if err != nil {
		return exitcode.New(exitcode.Unusable, fmt.Errorf("app cluster: %w", err))
	}
	ns := f.namespace
	if ns == "" {
		ns = cpl.Namespace
	}
	cp, err := cpl.Client()
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	app, err := appl.Client()
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	key := client.ObjectKey{Namespace: ns, Name: name}
	var q v1alpha1.APIServiceExportRequest
	if err := cp.Get(ctx, key, &q); err != nil {
		if apierrors.IsNotFound(err) {
			return exitcode.New(exitcode.Unusable, fmt.Errorf("no APIServiceExportRequest %s on the control plane", key))
		}
		return kube.Failed(fmt.Errorf("read APIServiceExportRequest %s: %w", key, err))
	}
	var names []string
	for _, e := range q.Status.Exports {
		var b v1alpha1.APIServiceBinding
		if err := app.Get(ctx, client.ObjectKey{Name: e.Name}, &b); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return kube.Failed(fmt.Errorf("read APIServiceBinding %s: %w", e.Name, err))
		}
		policy := b.Spec.DeletionPolicy
		if policy == "" {
			policy = v1alpha1.DeletionOrphan
		}
		if err := app.Delete(ctx, &b); client.IgnoreNotFound(err) != nil {
			return kube.Failed(fmt.Errorf("delete APIServiceBinding %s: %w", e.Name, err))
		}
		fmt.Fprintf(stderr, "deleting APIServiceBinding %s: %s\n", e.Name, Policy(e.Name, policy))
		names = append(names, e.Name)
	}
	if err := waitGone(ctx, app, names, f.timeout); err != nil {
		return err
	}
	if err := cp.Delete(ctx, &q); client.IgnoreNotFound(err) != nil {
		return kube.Failed(fmt.Errorf("delete APIServiceExportRequest %s: %w", key, err))
	}
	fmt.Fprintf(stderr, "deleted APIServiceExportRequest %s: the backend unbinds it on main\n", key)
	if f.output == kube.Name {
		return kube.PrintNames(stdout, kube.Resource("APIServiceBinding"), names...)
	}
	for _, n := range names {
		fmt.Fprintln(stdout, n)
	}
	return nil
}

// waitGone waits until the agent has removed its finalizer from every
// binding, that is carried out its deletion policy.
func waitGone(ctx context.Context, app client.Client, names []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var left, held []string
		for _, n := range names {
			var b v1alpha1.APIServiceBinding
			err := app.Get(ctx, client.ObjectKey{Name: n}, &b)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return kube.Failed(fmt.Errorf("read APIServiceBinding %s: %w", n, err))
			}
			left = append(left, n)
			for _, c := range b.Status.Conditions {
				if c.Reason == v1alpha1.InstancesExistReason {
					held = append(held, n+": "+c.Message)
					break
				}
			}
		}
		if len(left) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) && len(held) > 0 {
			return exitcode.New(exitcode.Timeout, fmt.Errorf("APIServiceBinding %s (deletionPolicy Delete) still there after %s; the request is kept: delete those objects, then run unbind again",
				strings.Join(held, "; "), timeout))
		}
		if !time.Now().Before(deadline) {
			return exitcode.New(exitcode.AgentNotRunning, fmt.Errorf(
				"APIServiceBinding %s still there after %s: the agent carries out the deletion policy and removes it; is `bindsync agent` running? The request is kept; run unbind again",
				strings.Join(left, ", "), timeout))
		}
		select {
		case <-ctx.Done():
			return exitcode.New(exitcode.Unusable, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}
