// Command standin-provider stands in for Crossplane on a control plane, for
// `make demo`, the end-to-end test and the instance benchmark: it marks the
// objects of the given resources Ready and writes their connection Secrets,
// and on deletion holds them for a deprovisioning delay (internal/standin).
// It provisions nothing and is not part of what bindsync ships.
//
//	standin-provider --kubeconfig F --resource postgresqlinstances.anynines.com [--resource ...]
//	                 [--selector bindsync.io/cluster] [--deprovision 3s] [--workers 4]
//
// A resource is <plural>.<group>; it is read and written at the version the
// control plane prefers (a CRD's storage version when it serves one). It runs
// until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr/funcr"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/standin"
)

type resources []string

func (r *resources) String() string     { return strings.Join(*r, ",") }
func (r *resources) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	var res resources
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the control plane")
	flag.Var(&res, "resource", "a namespaced resource to provision, <plural>.<group> (repeatable)")
	selector := flag.String("selector", v1alpha1.ClusterLabel, "label selector of the objects to provision (\"\": all)")
	deprovision := flag.Duration("deprovision", 3*time.Second, "how long a deleted object is held before it goes")
	workers := flag.Int("workers", 4, "objects handled at once")
	flag.Parse()
	if err := run(*kubeconfig, res, *selector, *deprovision, *workers); err != nil {
		fmt.Fprintln(os.Stderr, "standin-provider:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string, res []string, selector string, deprovision time.Duration, workers int) error {
	if kubeconfig == "" || len(res) == 0 {
		return fmt.Errorf("--kubeconfig and at least one --resource are required")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("read kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("discovery client: %w", err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	var gvrs []schema.GroupVersionResource
	for _, r := range res {
		gvr, err := mapper.ResourceFor(schema.ParseGroupResource(r).WithVersion(""))
		if err != nil {
			return fmt.Errorf("resource %s: %w", r, err)
		}
		gvrs = append(gvrs, gvr)
	}
	log := funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, time.Now().Format("15:04:05.000"), args) },
		funcr.Options{})
	p, err := standin.New(standin.Options{Config: cfg, Resources: gvrs, Selector: selector,
		Deprovision: deprovision, Workers: workers, Log: log})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return p.Run(ctx)
}
