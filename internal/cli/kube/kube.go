// Package kube loads kubeconfigs for bindsync's user commands the way kubectl
// does (kubectl's connection flags; --kubeconfig, then $KUBECONFIG, then
// ~/.kube/config; --context picks a context), maps API errors to exit codes
// and prints objects as kubectl's -o does.
package kube

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// Config names one cluster. The cluster a command acts on takes kubectl's
// own connection flags (AddFlags with no prefix: --kubeconfig, --context,
// --as, --request-timeout, --server, --token ...), with kubectl's meaning;
// the other cluster of a command that talks to two (bind and unbind: the
// control plane) takes --<prefix>kubeconfig and --<prefix>context.
type Config struct {
	// Path is the kubeconfig file; empty: $KUBECONFIG (a list of files,
	// merged), then ~/.kube/config.
	Path string
	// Context overrides the kubeconfig's current context.
	Context string

	// flags are kubectl's connection flags, for a Config added without a
	// prefix; nil otherwise.
	flags *genericclioptions.ConfigFlags
	// timeout is --request-timeout of the command's main cluster, which a
	// prefixed Config shares (RequestTimeoutOf).
	timeout *string
}

// AddFlags registers the flags of c on fs; what says whose cluster it is
// ("control plane", "app cluster"). Without a prefix they are kubectl's
// connection flags (k8s.io/cli-runtime), less those bindsync's commands
// use otherwise (-n is each command's own, --cluster names an app cluster)
// and the discovery cache (bindsync reads no discovery); with a prefix,
// --<prefix>kubeconfig and --<prefix>context.
func (c *Config) AddFlags(fs *pflag.FlagSet, prefix, what string) {
	if prefix != "" {
		fs.StringVar(&c.Path, prefix+"kubeconfig", c.Path, "kubeconfig of the "+what+" (default: $KUBECONFIG, then ~/.kube/config)")
		fs.StringVar(&c.Context, prefix+"context", c.Context, "kubeconfig context of the "+what+" (default: its current context)")
		return
	}
	cf := genericclioptions.NewConfigFlags(false)
	cf.KubeConfig, cf.Context = &c.Path, &c.Context
	cf.Namespace, cf.ClusterName, cf.CacheDir, cf.DisableCompression = nil, nil, nil, nil
	cf.AddFlags(fs)
	fs.Lookup("kubeconfig").Usage = "kubeconfig of the " + what + " (default: $KUBECONFIG, then ~/.kube/config)"
	fs.Lookup("context").Usage = "kubeconfig context of the " + what + " (default: its current context)"
	fs.Lookup("as").Usage = "user to impersonate on the " + what + " (a user, or system:serviceaccount:NS:NAME)"
	fs.Lookup("request-timeout").Usage = "how long one request to a cluster may take before the command gives up (exit 9); 0: no limit"
	c.flags = cf
}

// RequestTimeoutOf makes c use --request-timeout of main, the command's
// main cluster (whose flags were added without a prefix).
func (c *Config) RequestTimeoutOf(main *Config) {
	if main.flags != nil {
		c.timeout = main.flags.Timeout
	}
}

// Loaded is a kubeconfig read by Load.
type Loaded struct {
	// REST is the configuration for clients.
	REST *rest.Config
	// Namespace is the context's namespace ("default" when it names none).
	Namespace string
	// Raw is the merged kubeconfig, for commands that write a new one
	// from its cluster entry.
	Raw clientcmdapi.Config
	// ContextName is the context in use.
	ContextName string
	// Where names the kubeconfig in messages.
	Where string
}

// Load reads c with kubectl's loading rules and flags.
func (c Config) Load() (*Loaded, error) {
	where := c.Path
	if where == "" {
		where = "$KUBECONFIG or ~/.kube/config"
	}
	cc := c.clientConfig()
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", where, err)
	}
	if len(raw.Clusters) == 0 && (c.flags == nil || c.flags.APIServer == nil || *c.flags.APIServer == "") {
		return nil, fmt.Errorf("no kubeconfig: pass --kubeconfig or set $KUBECONFIG")
	}
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, fmt.Errorf("no kubeconfig: pass --kubeconfig or set $KUBECONFIG")
		}
		return nil, fmt.Errorf("kubeconfig %s: %w", where, err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: namespace: %w", where, err)
	}
	name := c.Context
	if name == "" {
		name = raw.CurrentContext
	}
	return &Loaded{REST: cfg, Namespace: ns, Raw: raw, ContextName: name, Where: where}, nil
}

// clientConfig is kubectl's loader for c: its connection flags when c has
// them, else the kubeconfig, the context and the shared request timeout.
func (c Config) clientConfig() clientcmd.ClientConfig {
	if c.flags != nil {
		return c.flags.ToRawKubeConfigLoader()
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = c.Path
	overrides := &clientcmd.ConfigOverrides{CurrentContext: c.Context}
	if c.timeout != nil {
		overrides.Timeout = *c.timeout
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}

// Scheme has client-go's kinds and bindsync's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}

// Client returns a direct (uncached) client for l.
func (l *Loaded) Client() (client.Client, error) {
	c, err := client.New(l.REST, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, fmt.Errorf("client for kubeconfig %s: %w", l.Where, err)
	}
	return c, nil
}

// Output formats (-o), as kubectl names them.
const (
	// Table is the command's own table (no -o).
	Table = ""
	JSON  = "json"
	YAML  = "yaml"
	// Wide is the table with more columns.
	Wide = "wide"
	// Name prints resource.group/name, one object a line, as kubectl -o name.
	Name = "name"
)

// ObjectFormats are the -o values of a command that prints Kubernetes
// objects. Commands that print something else (log's commits) take
// json and yaml only.
var ObjectFormats = []string{JSON, YAML, Wide, Name}

// ErrFormat is returned for an -o value a command does not know.
var ErrFormat = errors.New("unknown output format")

// CheckFormat validates an -o value: "" (the command's table) or one of
// allowed (default: json and yaml).
func CheckFormat(f string, allowed ...string) error {
	if len(allowed) == 0 {
		allowed = []string{JSON, YAML}
	}
	if f == Table || slices.Contains(allowed, f) {
		return nil
	}
	last := len(allowed) - 1
	use := allowed[last]
	if last > 0 {
		use = strings.Join(allowed[:last], ", ") + " or " + use
	}
	return fmt.Errorf("-o %q: %w: use %s", f, ErrFormat, use)
}

// IsFormat reports whether f is one of kubectl's -o values that bindsync
// knows (json, yaml, wide, name).
func IsFormat(f string) bool { return slices.Contains(ObjectFormats, f) }

// PrintNames writes resource/name for each name, as kubectl -o name does;
// resource is the lower-case kind and group ("apiservicebinding.bindsync.io").
func PrintNames(w io.Writer, resource string, names ...string) error {
	for _, n := range names {
		if _, err := fmt.Fprintf(w, "%s/%s\n", resource, n); err != nil {
			return err
		}
	}
	return nil
}

// Resource is kubectl's -o name prefix of a bindsync kind: its lower-case
// kind and group.
func Resource(kind string) string {
	return strings.ToLower(kind) + "." + v1alpha1.GroupName
}

// Print writes v to w as JSON (indented) or YAML.
func Print(w io.Writer, format string, v any) error {
	switch format {
	case JSON:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case YAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("-o %q: %w", format, ErrFormat)
}
