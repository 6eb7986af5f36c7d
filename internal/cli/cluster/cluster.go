// Package cluster implements `bindsync cluster add`: the operator onboards an
// app cluster on the control plane and gets a kubeconfig for its agent.
package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/cli/exitcode"
	"github.com/bindsync/bindsync/internal/cli/kube"
)

// Defaults of `cluster add`.
const (
	DefaultTokenTTL = 24 * time.Hour
	DefaultTimeout  = 2 * time.Minute
	pollInterval    = 250 * time.Millisecond
)

// NewCommand returns `bindsync cluster` with its subcommand `add`.
func NewCommand(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Onboard app clusters on the control plane",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(newAddCommand(stdout, stderr))
	return cmd
}

type addFlags struct {
	cp       kube.Config
	tokenTTL time.Duration
	output   string // -o: a format, or (deprecated) a file
	outFile  string // --output-file
	timeout  time.Duration
}

// resolveOutput splits -o and --output-file into the format of stdout and
// the kubeconfig's file. -o with a value that is no format is a file, as
// before --output-file existed; deprecated says so.
func (f *addFlags) resolveOutput() (format, file string, deprecated bool, err error) {
	switch {
	case f.output == kube.Wide:
		return "", "", false, errors.New("-o wide: cluster add prints a kubeconfig, not a table: use -o json, yaml or name")
	case f.output == kube.Table || kube.IsFormat(f.output):
		format, file = f.output, f.outFile
	case f.outFile != "":
		return "", "", false, fmt.Errorf("-o %q and --output-file %q: give the file once, with --output-file", f.output, f.outFile)
	default:
		file, deprecated = f.output, true
	}
	if format == kube.Name && file == "" {
		return "", "", false, errors.New("-o name prints the AppCluster's name only: give --output-file FILE for the kubeconfig")
	}
	return format, file, deprecated, nil
}

func newAddCommand(stdout, stderr io.Writer) *cobra.Command {
	f := &addFlags{}
	cmd := &cobra.Command{
		Use:   "add NAME --kubeconfig CP [--token-ttl D] [--output-file FILE] [-o json|yaml|name]",
		Short: "Create an AppCluster and write a kubeconfig for its agent",
		Long: `add creates the AppCluster NAME on the control plane, waits until the backend has
created its namespace bindsync-NAME and the ServiceAccount bindsync-agent in it, and
writes a kubeconfig for that ServiceAccount: a token from a TokenRequest (never a
token Secret) valid for --token-ttl, the control plane's server and CA from the
operator's kubeconfig, and bindsync-NAME as the context's namespace. Give it to
the cluster's agent (--control-plane-kubeconfig) and to its developers (bind).

The kubeconfig goes to stdout (YAML; -o json: JSON), or with --output-file to FILE
(mode 0600); with --output-file, -o name prints appcluster.bindsync.io/NAME and -o json|yaml
the kubeconfig to stdout too. -o FILE, where FILE is no output format, still writes FILE
(deprecated: use --output-file; write -o ./yaml for a file named like a format).
--kubeconfig, --context, --as, --request-timeout and kubectl's other connection flags name
the control plane, the cluster add acts on. Progress goes to stderr.
The token expires: run add again before then (an existing AppCluster is kept) and
replace the agent's kubeconfig Secret; the agent reads the new token without a restart.

Exit codes: 0 done; 2 bad flags or kubeconfig; 3 the backend did not create the namespace
and ServiceAccount within --timeout (is bindsync backend running?); 9 the control plane
could not be reached; 11 it refused a request (forbidden, say).`,
		Example: `  bindsync cluster add team-a --kubeconfig cp.kubeconfig --output-file team-a.kubeconfig
  bindsync cluster add team-a --token-ttl 720h > team-a.kubeconfig
  bindsync cluster add team-a --output-file team-a.kubeconfig -o name`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAdd(cmd.Context(), f, args[0], stdout, stderr)
		},
	}
	fl := cmd.Flags()
	f.cp.AddFlags(fl, "", "control plane")
	fl.DurationVar(&f.tokenTTL, "token-ttl", DefaultTokenTTL, "how long the agent's token is valid (the API server may cap it)")
	fl.StringVarP(&f.output, "output", "o", "", "json, yaml (the kubeconfig) or name (the AppCluster) to stdout; any other value is a file, as --output-file (deprecated)")
	fl.StringVar(&f.outFile, "output-file", "", "write the kubeconfig to this file (mode 0600) instead of stdout")
	fl.DurationVar(&f.timeout, "timeout", DefaultTimeout, "how long to wait for the backend to create the namespace and ServiceAccount")
	return cmd
}

func validate(name string, f *addFlags) error {
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return fmt.Errorf("cluster name %q: %s", name, errs[0])
	}
	if len(name) > v1alpha1.MaxClusterNameLength {
		return fmt.Errorf("cluster name %q is longer than %d characters (its namespace is %s<name>)",
			name, v1alpha1.MaxClusterNameLength, v1alpha1.ClusterNamespacePrefix)
	}
	if f.tokenTTL < 10*time.Minute {
		return fmt.Errorf("--token-ttl %s is shorter than 10m, the shortest token the API server issues", f.tokenTTL)
	}
	if f.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive")
	}
	_, _, _, err := f.resolveOutput()
	return err
}

func runAdd(ctx context.Context, f *addFlags, name string, stdout, stderr io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := validate(name, f); err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	format, file, deprecated, _ := f.resolveOutput()
	if deprecated {
		fmt.Fprintf(stderr, "-o FILE is deprecated: use --output-file %s\n", file)
	}
	cp, err := f.cp.Load()
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	c, err := cp.Client()
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	ac := &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: name}}
	switch err := c.Create(ctx, ac); {
	case err == nil:
		fmt.Fprintf(stderr, "created AppCluster %s\n", name)
	case apierrors.IsAlreadyExists(err):
		fmt.Fprintf(stderr, "AppCluster %s exists already\n", name)
	default:
		return kube.Failed(fmt.Errorf("create AppCluster %s on %s: %w", name, cp.REST.Host, err))
	}
	ns := v1alpha1.ClusterNamespace(name)
	fmt.Fprintf(stderr, "waiting for the backend to create namespace %s and ServiceAccount %s ...\n", ns, v1alpha1.AgentServiceAccount)
	if err := waitServiceAccount(ctx, c, ns, f.timeout); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cp.REST)
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	ttl := int64(f.tokenTTL / time.Second)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, v1alpha1.AgentServiceAccount,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl}}, metav1.CreateOptions{})
	if err != nil {
		return kube.Failed(fmt.Errorf("request a token for ServiceAccount %s/%s: %w", ns, v1alpha1.AgentServiceAccount, err))
	}
	kc, err := Kubeconfig(cp.REST, name, tr.Status.Token)
	if err != nil {
		return exitcode.New(exitcode.Unusable, err)
	}
	data, err := clientcmd.Write(*kc)
	if err != nil {
		return exitcode.New(exitcode.Unusable, fmt.Errorf("encode kubeconfig: %w", err))
	}
	expires := tr.Status.ExpirationTimestamp.UTC().Format(time.RFC3339)
	where := "stdout"
	if file != "" {
		if err := writePrivate(file, data); err != nil {
			return exitcode.New(exitcode.Unusable, err)
		}
		where = file
	}
	if err := printAdded(stdout, format, file, name, data); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "kubeconfig for ServiceAccount %s/%s written to %s (token expires %s)\n", ns, v1alpha1.AgentServiceAccount, where, expires)
	return nil
}

// printAdded writes to stdout what format asks for: the kubeconfig data
// (YAML; JSON for -o json) unless it went to a file and no format was
// asked for, or the AppCluster's name (-o name).
func printAdded(stdout io.Writer, format, file, name string, data []byte) error {
	switch {
	case format == kube.Name:
		return kube.PrintNames(stdout, kube.Resource("AppCluster"), name)
	case format == kube.JSON:
		j, err := yaml.YAMLToJSON(data)
		if err != nil {
			return exitcode.New(exitcode.Unusable, fmt.Errorf("encode kubeconfig as JSON: %w", err))
		}
		var v any
		if err := json.Unmarshal(j, &v); err != nil {
			return exitcode.New(exitcode.Unusable, fmt.Errorf("encode kubeconfig as JSON: %w", err))
		}
		return kube.Print(stdout, kube.JSON, v)
	case format == kube.YAML || file == "":
		_, err := stdout.Write(data)
		return err
	}
	return nil
}

// waitServiceAccount waits until the namespace and the agent's ServiceAccount exist.
func waitServiceAccount(ctx context.Context, c client.Client, ns string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	missing := "namespace " + ns
	var lastErr error
	for {
		err := c.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{})
		if err == nil {
			missing = "ServiceAccount " + ns + "/" + v1alpha1.AgentServiceAccount
			err = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: v1alpha1.AgentServiceAccount}, &corev1.ServiceAccount{})
			if err == nil {
				return nil
			}
		}
		if !apierrors.IsNotFound(err) && ctx.Err() == nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("%s does not exist after %s: the backend creates it; is `bindsync backend` running against this control plane?", missing, timeout)
			if lastErr != nil {
				msg += " (last error: " + lastErr.Error() + ")"
			}
			return exitcode.New(exitcode.Timeout, errors.New(msg))
		case <-time.After(pollInterval):
		}
	}
}

// Kubeconfig returns a kubeconfig for the agent ServiceAccount of cluster
// with token: the server, CA and TLS server name of cp, and the cluster's
// namespace as the context's namespace.
func Kubeconfig(cp *rest.Config, cluster, token string) (*clientcmdapi.Config, error) {
	ca := cp.CAData
	if len(ca) == 0 && cp.CAFile != "" {
		b, err := os.ReadFile(cp.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read the control plane's CA file %s: %w", cp.CAFile, err)
		}
		ca = b
	}
	ns := v1alpha1.ClusterNamespace(cluster)
	name := "bindsync-" + cluster
	user := v1alpha1.AgentServiceAccount + "@" + cluster
	kc := clientcmdapi.NewConfig()
	kc.Clusters["bindsync-control-plane"] = &clientcmdapi.Cluster{
		Server: cp.Host, CertificateAuthorityData: ca, TLSServerName: cp.ServerName, InsecureSkipTLSVerify: cp.Insecure,
	}
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: "bindsync-control-plane", AuthInfo: user, Namespace: ns}
	kc.CurrentContext = name
	return kc, nil
}

// writePrivate writes data to path readable by its owner only, also when
// the file existed with wider permissions.
func writePrivate(path string, data []byte) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	if err := fh.Chmod(0o600); err != nil {
		_ = fh.Close()
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	if _, err := fh.Write(data); err != nil {
		_ = fh.Close()
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
