// Package kube loads kubeconfigs for bindsync's user commands the way kubectl
// does (--kubeconfig, then $KUBECONFIG, then ~/.kube/config; --context picks
// a context) and prints objects as JSON or YAML.
package kube

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// Config names one kubeconfig and context, as kubectl's flags do.
type Config struct {
	// Path is the kubeconfig file; empty: $KUBECONFIG (a list of files,
	// merged), then ~/.kube/config.
	Path string
	// Context overrides the kubeconfig's current context.
	Context string
}

// AddFlags registers --<prefix>kubeconfig and --<prefix>context on fs;
// what says whose cluster it is ("control plane", "app cluster").
func (c *Config) AddFlags(fs *pflag.FlagSet, prefix, what string) {
	fs.StringVar(&c.Path, prefix+"kubeconfig", c.Path, "kubeconfig of the "+what+" (default: $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&c.Context, prefix+"context", c.Context, "kubeconfig context of the "+what+" (default: its current context)")
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

// Load reads c with kubectl's loading rules.
func (c Config) Load() (*Loaded, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = c.Path
	where := c.Path
	if where == "" {
		where = "$KUBECONFIG or ~/.kube/config"
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.Context})
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", where, err)
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

// Output formats.
const (
	Table = ""
	JSON  = "json"
	YAML  = "yaml"
)

// ErrFormat is returned for an -o value other than json or yaml.
var ErrFormat = errors.New("output format must be json or yaml")

// CheckFormat validates an -o value ("" means the command's table).
func CheckFormat(f string) error {
	switch f {
	case Table, JSON, YAML:
		return nil
	}
	return fmt.Errorf("-o %q: %w", f, ErrFormat)
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
