// Command devenv is the development environment of `make demo`: it starts a
// control plane and an app cluster (the test API servers of internal/testenv,
// loopback only) and offers the few object verbs the demo needs on a machine
// without kubectl.
//
//	devenv up --dir DIR [--parent PID]      start both servers with bindsync's CRDs, write
//	                                        DIR/control-plane.kubeconfig and DIR/app.kubeconfig,
//	                                        then DIR/ready; run until SIGINT/SIGTERM or until
//	                                        process PID is gone
//	devenv apply --kubeconfig F FILE|-...   server-side apply (CRDs first, waited for)
//	devenv get --kubeconfig F [-n NS] RESOURCE NAME [--jsonpath EXPR]
//	devenv patch --kubeconfig F [-n NS] RESOURCE NAME JSON-PATCH
//	devenv delete --kubeconfig F [-n NS] RESOURCE NAME  ask for deletion; does not wait
//	                                        for finalizers (the object may stay a while)
//
// RESOURCE is <plural>.<group> as the API server serves it
// (customresourcedefinitions.apiextensions.k8s.io, apiservicebindings.bindsync.io,
// namespaces). If devenv itself is killed, the servers' watchdogs stop them.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/internal/testenv"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: devenv up|apply|get|patch|delete ...")
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{"up": up, "apply": apply, "get": get, "patch": patch, "delete": del}
	run, ok := cmds[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "devenv: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if err := run(os.Args[2:]); err != nil {
		fmt.Fprintln(os.Stderr, "devenv:", err)
		os.Exit(1)
	}
}

// up starts the pair, installs bindsync's CRDs on both and waits.
func up(args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	dir := fs.String("dir", "", "folder for the kubeconfigs and the ready marker (required)")
	parent := fs.Int("parent", 0, "stop when this process is gone (0: only on a signal)")
	_ = fs.Parse(args)
	if *dir == "" {
		return errors.New("up: --dir is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cp, app, err := testenv.NewPair()
	if err != nil {
		return err
	}
	defer func() {
		for _, c := range []*testenv.Cluster{app, cp} {
			if err := c.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, "devenv:", err)
			}
		}
	}()
	root, err := testenv.ModuleRoot()
	if err != nil {
		return err
	}
	crds := filepath.Join(root, "config", "crd")
	for _, c := range []*testenv.Cluster{cp, app} {
		if _, err := c.InstallCRDs(ctx, crds); err != nil {
			return fmt.Errorf("install bindsync's CRDs on %s: %w", c.Name, err)
		}
		if err := writeKubeconfig(filepath.Join(*dir, c.Name+".kubeconfig"), c.Name, c.Config); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(*dir, "ready"), nil, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "devenv: control plane and app cluster up (%s, %s)\n",
		cp.Started.Round(time.Millisecond), app.Started.Round(time.Millisecond))
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
			if *parent > 0 && syscall.Kill(*parent, 0) == syscall.ESRCH {
				fmt.Fprintf(os.Stderr, "devenv: process %d is gone, stopping\n", *parent)
				return nil
			}
		}
	}
}

// writeKubeconfig writes an administrator kubeconfig for cfg.
func writeKubeconfig(path, name string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters[name] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
	kc.CurrentContext = name
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig of %s: %w", name, err)
	}
	return nil
}

// target is a kubeconfig, a namespace and a client, shared by the object verbs.
type target struct {
	fs         *flag.FlagSet
	kubeconfig *string
	namespace  *string
	cluster    *testenv.Cluster
}

func newTarget(name string) *target {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	return &target{fs: fs,
		kubeconfig: fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster"),
		namespace:  fs.String("n", "", "namespace of a namespaced object")}
}

// parse parses args, flags and positional arguments in any order, and
// connects; it returns the positional arguments.
func (t *target) parse(args []string) ([]string, error) {
	var pos []string
	for {
		if err := t.fs.Parse(args); err != nil {
			return nil, err
		}
		if t.fs.NArg() == 0 {
			break
		}
		pos = append(pos, t.fs.Arg(0))
		args = t.fs.Args()[1:]
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *t.kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %q: %w", *t.kubeconfig, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		return nil, err
	}
	t.cluster = &testenv.Cluster{Name: cfg.Host, Config: cfg, Client: c}
	return pos, nil
}

// object resolves RESOURCE NAME to an empty object of that kind.
func (t *target) object(resource, name string) (*unstructured.Unstructured, error) {
	// As kubectl reads it: <plural>.<version>.<group> if the server has
	// that, else <plural>.<group>.
	mapper := t.cluster.Client.RESTMapper()
	gvr, gr := schema.ParseResourceArg(resource)
	var gvk schema.GroupVersionKind
	var err error
	if gvr != nil {
		gvk, err = mapper.KindFor(*gvr)
	}
	if gvr == nil || err != nil {
		gvk, err = mapper.KindFor(gr.WithVersion(""))
	}
	if err != nil {
		return nil, fmt.Errorf("resource %s: %w", resource, err)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	u.SetName(name)
	u.SetNamespace(*t.namespace)
	return u, nil
}

func apply(args []string) error {
	t := newTarget("apply")
	files, err := t.parse(args)
	if err != nil {
		return err
	}
	var objs []*unstructured.Unstructured
	for _, f := range files {
		var data []byte
		if f == "-" {
			data, err = io.ReadAll(os.Stdin)
		} else {
			data, err = os.ReadFile(f)
		}
		if err != nil {
			return err
		}
		o, err := testenv.DecodeObjects(data)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		objs = append(objs, o...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := t.cluster.ApplyObjects(ctx, objs); err != nil {
		return err
	}
	for _, o := range objs {
		fmt.Fprintf(os.Stderr, "  applied %s %s\n", o.GetKind(), objectName(o))
	}
	return nil
}

func get(args []string) error {
	t := newTarget("get")
	expr := t.fs.String("jsonpath", "", "print this JSONPath template instead of the object's YAML")
	pos, err := t.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return errors.New("get: want RESOURCE NAME")
	}
	o, err := t.object(pos[0], pos[1])
	if err != nil {
		return err
	}
	if err := t.cluster.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
		return err
	}
	if *expr == "" {
		o.SetManagedFields(nil)
		out, err := yaml.Marshal(o.Object)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(out)
		return err
	}
	jp := jsonpath.New("get").AllowMissingKeys(true)
	if err := jp.Parse(*expr); err != nil {
		return fmt.Errorf("jsonpath %q: %w", *expr, err)
	}
	var out bytes.Buffer
	if err := jp.Execute(&out, o.Object); err != nil {
		return err
	}
	fmt.Println(out.String())
	return nil
}

func patch(args []string) error {
	t := newTarget("patch")
	pos, err := t.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 3 {
		return errors.New("patch: want RESOURCE NAME JSON-PATCH")
	}
	o, err := t.object(pos[0], pos[1])
	if err != nil {
		return err
	}
	if err := t.cluster.Client.Patch(context.Background(), o, client.RawPatch(types.JSONPatchType, []byte(pos[2]))); err != nil {
		return fmt.Errorf("patch %s %s: %w", pos[0], objectName(o), err)
	}
	fmt.Fprintf(os.Stderr, "  patched %s %s\n", o.GetKind(), objectName(o))
	return nil
}

func objectName(o client.Object) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// del asks the server to delete one object and returns at once: finalizers
// (bindsync's on an app object, a provider's on its copy) may keep it.
func del(args []string) error {
	t := newTarget("delete")
	pos, err := t.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return errors.New("delete: want RESOURCE NAME")
	}
	o, err := t.object(pos[0], pos[1])
	if err != nil {
		return err
	}
	if err := t.cluster.Client.Delete(context.Background(), o); err != nil {
		return fmt.Errorf("delete %s %s: %w", pos[0], objectName(o), err)
	}
	fmt.Fprintf(os.Stderr, "  deletion of %s %s requested\n", o.GetKind(), objectName(o))
	return nil
}
