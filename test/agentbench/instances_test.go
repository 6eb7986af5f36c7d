package agentbench

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/testenv"
)

// Sizes of the instance benchmark (issue 14's figures).
const (
	instanceCRDs       = 10   // bound CRDs whose instances are created
	instanceNamespaces = 50   // app namespaces they are spread over
	instanceCount      = 2000 // instances created at once
	instanceParallel   = 16   // the creating client's parallelism, both sides
	boundCRDsTotal     = 200  // bound CRDs in all (the agent's RSS)
	latencySamples     = 20
	instGroup          = "inst.bench.bindsync.test"
	instCluster        = "bench"
)

// BenchmarkInstanceSync measures instance sync through real processes: the
// control plane with `bindsync backend` (a bare state repository over
// file://) and hack/standin-provider, the app cluster with the shipped
// `bindsync agent` binary given the kubeconfig `bindsync cluster add` wrote.
// 200 CRDs are bound (10 small instance CRDs, the 11 Klutch CRDs and 179
// synthetic ones). Before timing, each of the 50 app namespaces holds one
// warm-up instance, so the backend has assigned its control-plane namespace
// (one commit each) and the timed figures are the sync's own.
//
//   - Create: 2,000 instances (50 namespaces x 10 CRDs x 4) created in the app
//     cluster by 16 parallel clients; the time from the first create until
//     every copy exists on the control plane, divided by the time 16 parallel
//     clients take to create the same 2,000 objects directly on the control
//     plane, same run. Target: ratio at most 2.
//   - Latency: 20 times, one object on an idle system: create in the app
//     cluster -> copy seen on the control plane; the provider's Ready status
//     on the copy -> Ready on the app object (times are watch events seen by
//     this process). Target: median under 300 ms each.
//   - Writes: the agent killed and started again (empty caches) with 2,050
//     synced instances and nothing new: writes made on either API server
//     (apiserver_request_total, every resource but leases and events,
//     which are counted apart) until the agent is idle and 20 s more.
//     Target: 0.
//   - RSS: the agent process's VmHWM, for the first process (its whole life:
//     the cold sync of 200 CRDs and the 2,050 instances) and the restarted
//     one. Target: under 150 MB.
func BenchmarkInstanceSync(b *testing.B) {
	for b.Loop() {
		runInstanceBench(b)
	}
}

// instanceBench is one run's servers, processes and informers.
type instanceBench struct {
	b          *testing.B
	ctx        context.Context
	cp, app    *testenv.Cluster
	gvrs       []schema.GroupVersionResource
	bin        string
	standin    string
	repo       string
	agentArgs  []string
	agent      *agentProcess
	cpSeen     *seen // copies on the control plane (label bindsync.io/cluster)
	appSeen    *seen // instances in the app cluster
	cpNS       map[string]string
	appNSNames []string
}

func runInstanceBench(b *testing.B) {
	b.StopTimer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ib := setupInstanceBench(ctx, b)

	// Warm-up: one instance per app namespace, so every namespace is assigned.
	ib.createAll(b, warmupObjects(ib), instanceParallel)
	ib.cpSeen.waitCount(b, instanceNamespaces, 5*time.Minute, "warm-up copies")
	b.Logf("warm-up: %d app namespaces assigned, one copy each; %s", instanceNamespaces, uptime())

	// Create: through the sync, then directly on the control plane.
	objs := timedObjects(ib)
	b.StartTimer()
	begin := time.Now()
	ib.createAll(b, objs, instanceParallel)
	created := time.Since(begin)
	ib.cpSeen.waitCount(b, instanceNamespaces+instanceCount, 10*time.Minute, "every copy")
	viaSync := time.Since(begin)
	b.StopTimer()
	direct := ib.createDirect(b, objs)
	ratio := viaSync.Seconds() / direct.Seconds()
	b.ReportMetric(viaSync.Seconds(), "sync-2000-s")
	b.ReportMetric(direct.Seconds(), "direct-2000-s")
	b.ReportMetric(ratio, "sync/direct")
	b.Logf("create %d instances in %d namespaces across %d CRDs, %d parallel clients: every copy on the control plane after %s "+
		"(app-side creates returned after %s); the same %d objects created directly on the control plane: %s; ratio %.2f (target at most 2); %s",
		instanceCount, instanceNamespaces, instanceCRDs, instanceParallel, viaSync.Round(time.Millisecond), created.Round(time.Millisecond),
		instanceCount, direct.Round(time.Millisecond), ratio, uptime())

	// The provider provisions every copy; status comes down.
	total := instanceNamespaces + instanceCount
	startProc(b, "standin-provider", ib.standinArgs()...)
	begin = time.Now()
	ib.appSeen.waitReady(b, total, 10*time.Minute)
	b.Logf("stand-in provider started: all %d app objects Ready (status down) after %s", total, time.Since(begin).Round(time.Millisecond))
	ib.agent.waitIdle(b)
	firstHWM := ib.agent.hwm()

	ib.latency(b)
	ib.restartWrites(b, total)

	secondHWM := ib.agent.hwm()
	b.ReportMetric(firstHWM, "agent-hwm-MB")
	b.ReportMetric(secondHWM, "restarted-agent-hwm-MB")
	b.Logf("agent RSS (MB = 2^20 bytes) with %d synced instances and %d bound CRDs: VmHWM %.1f MB over the first process's life "+
		"(cold sync, %d creates, status down), %.1f MB for the agent restarted with empty caches; target under 150 MB",
		total+latencySamples, boundCRDsTotal, firstHWM, instanceCount, secondHWM)
	b.StartTimer()
}

// setupInstanceBench starts the servers and processes and waits until every
// binding is Ready.
func setupInstanceBench(ctx context.Context, b *testing.B) *instanceBench {
	cp, app, err := testenv.NewPair()
	require.NoError(b, err)
	b.Cleanup(func() {
		for _, c := range []*testenv.Cluster{app, cp} {
			if err := c.Stop(); err != nil {
				b.Error(err)
			}
		}
	})
	for _, c := range []*testenv.Cluster{cp, app} {
		names, err := c.InstallCRDs(ctx, repoPath(b, "config", "crd"))
		require.NoError(b, err)
		require.NoError(b, c.WaitEstablished(ctx, names...))
	}
	ib := &instanceBench{b: b, ctx: ctx, cp: cp, app: app, cpNS: map[string]string{}}
	crds := append(instanceBenchCRDs(), benchCRDs(b, boundCRDsTotal-instanceCRDs-11)...)
	require.Len(b, crds, boundCRDsTotal)
	var names []string
	for i := range crds {
		require.NoError(b, cp.Client.Create(ctx, &crds[i]), "CRD %s", crds[i].Name)
		names = append(names, crds[i].Name)
	}
	require.NoError(b, cp.WaitEstablished(ctx, names...))
	for _, c := range crds[:instanceCRDs] {
		ib.gvrs = append(ib.gvrs, schema.GroupVersionResource{Group: c.Spec.Group, Version: "v1", Resource: c.Spec.Names.Plural})
	}

	dir := b.TempDir()
	ib.bin = buildAgent(b)
	standin, err := testenv.BuildStandinProvider(dir)
	require.NoError(b, err)
	ib.standin = standin

	cpKubeconfig := cp.WriteKubeconfig(b)
	bare := filepath.Join(dir, "state.git")
	require.NoError(b, exec.Command("git", "init", "-q", "--bare", "-b", "main", bare).Run())
	startProc(b, "backend", ib.bin, "backend", "--kubeconfig", cpKubeconfig, "--repo", "file://"+bare,
		"--data-dir", filepath.Join(dir, "backend"), "--interval", "1s", "--leader-elect=false",
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0")
	agentKubeconfig := filepath.Join(dir, instCluster+".kubeconfig")
	out, err := exec.Command(ib.bin, "cluster", "add", instCluster, "--kubeconfig", cpKubeconfig, "-o", agentKubeconfig).CombinedOutput()
	require.NoError(b, err, "cluster add: %s", out)

	clusterNS := v1alpha1.ClusterNamespace(instCluster)
	for i, c := range crds {
		name := fmt.Sprintf("api-%03d", i)
		require.NoError(b, cp.Client.Create(ctx, &v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: v1alpha1.APIServiceExportTemplateSpec{Resources: []v1alpha1.GroupResource{{Group: c.Spec.Group, Resource: c.Spec.Names.Plural}}}}))
		require.NoError(b, cp.Client.Create(ctx, &v1alpha1.APIServiceExportRequest{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: clusterNS},
			Spec: v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: name}}}))
		require.NoError(b, app.Client.Create(ctx, &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: c.Name}}))
	}
	ib.agentArgs = []string{"--control-plane-kubeconfig", agentKubeconfig}
	ib.repo = "file://" + bare
	ib.agent = startAgent(b, ib.bin, &appServer{Cluster: app}, ib.repo, ib.agentArgs...)
	begin := time.Now()
	waitBindingsReady(ctx, b, app, names)
	b.Logf("%d bindings Ready %s after the agent started; %s", len(names), time.Since(begin).Round(time.Millisecond), uptime())

	for i := range instanceNamespaces {
		ns := fmt.Sprintf("app-%02d", i)
		ib.appNSNames = append(ib.appNSNames, ns)
		require.NoError(b, app.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
		require.NoError(b, cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "direct-" + ns}}))
	}
	ib.cpSeen = watchAll(ctx, b, cp.Config, ib.gvrs, v1alpha1.ClusterLabel)
	ib.appSeen = watchAll(ctx, b, app.Config, ib.gvrs, "")
	return ib
}

func (ib *instanceBench) standinArgs() []string {
	args := []string{ib.standin, "--kubeconfig", ib.cp.WriteKubeconfig(ib.b), "--deprovision", "0s", "--workers", "8"}
	for _, g := range ib.gvrs {
		args = append(args, "--resource", g.Resource+"."+g.Group)
	}
	return args
}

// instanceBenchCRDs are the small namespaced CRDs whose instances are synced.
func instanceBenchCRDs() []apiextensionsv1.CustomResourceDefinition {
	obj := func(props map[string]apiextensionsv1.JSONSchemaProps) apiextensionsv1.JSONSchemaProps {
		return apiextensionsv1.JSONSchemaProps{Type: "object", Properties: props}
	}
	str := apiextensionsv1.JSONSchemaProps{Type: "string"}
	var out []apiextensionsv1.CustomResourceDefinition
	for i := range instanceCRDs {
		plural, kind := fmt.Sprintf("databases%d", i), fmt.Sprintf("Database%d", i)
		out = append(out, apiextensionsv1.CustomResourceDefinition{
			ObjectMeta: metav1.ObjectMeta{Name: plural + "." + instGroup},
			Spec: apiextensionsv1.CustomResourceDefinitionSpec{
				Group: instGroup, Scope: apiextensionsv1.NamespaceScoped,
				Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: plural, Kind: kind, ListKind: kind + "List", Singular: strings.ToLower(kind)},
				Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
					Name: "v1", Served: true, Storage: true,
					Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
					Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: ptr.To(obj(map[string]apiextensionsv1.JSONSchemaProps{
						"spec": obj(map[string]apiextensionsv1.JSONSchemaProps{
							"size": str, "tier": str,
							"writeConnectionSecretToRef": obj(map[string]apiextensionsv1.JSONSchemaProps{"name": str}),
							"resourceRef":                obj(map[string]apiextensionsv1.JSONSchemaProps{"apiVersion": str, "kind": str, "name": str}),
						}),
						"status": {Type: "object", XPreserveUnknownFields: ptr.To(true)},
					}))},
				}},
			},
		})
	}
	return out
}

func (ib *instanceBench) object(gvr int, ns, name string) *unstructured.Unstructured {
	g := ib.gvrs[gvr]
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": g.Group + "/" + g.Version, "kind": fmt.Sprintf("Database%d", gvr),
		"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{"team": "bench"}},
		"spec":     map[string]any{"size": "small", "tier": "gold"},
	}}
	return u
}

func warmupObjects(ib *instanceBench) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, ns := range ib.appNSNames {
		out = append(out, ib.object(0, ns, "warmup"))
	}
	return out
}

// timedObjects are the 2,000 instances: every namespace, every CRD, 4 each.
func timedObjects(ib *instanceBench) []*unstructured.Unstructured {
	per := instanceCount / (instanceNamespaces * instanceCRDs)
	var out []*unstructured.Unstructured
	for k := range per {
		for _, ns := range ib.appNSNames {
			for g := range instanceCRDs {
				out = append(out, ib.object(g, ns, fmt.Sprintf("db-%d", k)))
			}
		}
	}
	return out
}

// createAll creates objs in the app cluster with n parallel clients.
func (ib *instanceBench) createAll(b *testing.B, objs []*unstructured.Unstructured, n int) {
	createParallel(ib.ctx, b, ib.app.Config, ib.gvrs, objs, n, "")
}

// createDirect creates the same objects on the control plane, each in
// direct-<namespace>, with the same parallelism, and returns how long it took.
func (ib *instanceBench) createDirect(b *testing.B, objs []*unstructured.Unstructured) time.Duration {
	begin := time.Now()
	createParallel(ib.ctx, b, ib.cp.Config, ib.gvrs, objs, instanceParallel, "direct-")
	return time.Since(begin)
}

func createParallel(ctx context.Context, b *testing.B, cfg *rest.Config, gvrs []schema.GroupVersionResource,
	objs []*unstructured.Unstructured, n int, nsPrefix string) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side throttling: the server's speed is measured
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(b, err)
	index := map[string]int{}
	for i, g := range gvrs {
		index[g.Group+"/"+g.Version+"/"+fmt.Sprintf("Database%d", i)] = i
	}
	work := make(chan *unstructured.Unstructured)
	var failed atomic.Value
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for o := range work {
				o = o.DeepCopy()
				o.SetNamespace(nsPrefix + o.GetNamespace())
				g := gvrs[index[o.GetAPIVersion()+"/"+o.GetKind()]]
				if _, err := dyn.Resource(g).Namespace(o.GetNamespace()).Create(ctx, o, metav1.CreateOptions{}); err != nil {
					failed.Store(fmt.Errorf("create %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err))
				}
			}
		})
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
}

// latency times one object at a time on an idle system.
func (ib *instanceBench) latency(b *testing.B) {
	var up, down []time.Duration
	for i := range latencySamples {
		ib.agent.waitIdle(b)
		name, g := fmt.Sprintf("latency-%d", i), i%instanceCRDs
		key := objectKey(ib.gvrs[g], ib.appNSNames[0], name)
		copyKey := objectKey(ib.gvrs[g], ib.copyNamespace(b, ib.appNSNames[0]), name)
		begin := time.Now()
		createParallel(ib.ctx, b, ib.app.Config, ib.gvrs, []*unstructured.Unstructured{ib.object(g, ib.appNSNames[0], name)}, 1, "")
		copied := ib.cpSeen.waitAt(b, copyKey, false)
		providerReady := ib.cpSeen.waitAt(b, copyKey, true)
		appReady := ib.appSeen.waitAt(b, key, true)
		up = append(up, copied.Sub(begin))
		down = append(down, appReady.Sub(providerReady))
	}
	mu, md := median(append([]time.Duration(nil), up...)), median(append([]time.Duration(nil), down...))
	b.ReportMetric(float64(mu.Milliseconds()), "create-to-copy-median-ms")
	b.ReportMetric(float64(md.Milliseconds()), "status-down-median-ms")
	b.Logf("one object on an idle system, %d samples: create -> copy median %s (all %v); provider status -> app object median %s (all %v); target median under 300ms each; %s",
		latencySamples, mu.Round(time.Millisecond), roundAll(up), md.Round(time.Millisecond), roundAll(down), uptime())
}

// copyNamespace is the control-plane namespace the backend assigned to an
// app namespace.
func (ib *instanceBench) copyNamespace(b *testing.B, appNS string) string {
	if ns, ok := ib.cpNS[appNS]; ok {
		return ns
	}
	var n v1alpha1.APIServiceNamespace
	require.NoError(b, ib.cp.Client.Get(ib.ctx, client.ObjectKey{Namespace: v1alpha1.ClusterNamespace(instCluster), Name: appNS}, &n))
	require.NotEmpty(b, n.Status.Namespace, "APIServiceNamespace %s has no namespace", appNS)
	ib.cpNS[appNS] = n.Status.Namespace
	return n.Status.Namespace
}

// restartWrites kills the agent, starts it again with empty caches and
// counts the writes on both API servers while it finds nothing new.
func (ib *instanceBench) restartWrites(b *testing.B, total int) {
	ib.agent.waitIdle(b)
	time.Sleep(3 * time.Second) // the last status writes of the latency samples settle
	// The latency samples may have asked for namespaces, and their commits
	// moved main: every binding's and export's status names main's head, so
	// an agent that has not read the new head yet would write them all after
	// a restart for a reason that is not the restart's. It reads it now.
	headBefore := lsRemoteHead(b, ib.repo)
	ib.agent.callWebhook(b)
	ib.agent.waitIdle(b)
	time.Sleep(3 * time.Second)
	cpBefore, appBefore := apiserverWrites(ib.ctx, b, ib.cp.Config), apiserverWrites(ib.ctx, b, ib.app.Config)
	_ = ib.agent.cmd.Process.Kill()
	_, _ = ib.agent.cmd.Process.Wait()
	begin := time.Now()
	ib.agent = startAgent(b, ib.bin, &appServer{Cluster: ib.app}, ib.repo, ib.agentArgs...)
	ib.agent.waitIdle(b)
	idle := time.Since(begin)
	time.Sleep(20 * time.Second)
	cpAfter, appAfter := apiserverWrites(ib.ctx, b, ib.cp.Config), apiserverWrites(ib.ctx, b, ib.app.Config)
	if head := lsRemoteHead(b, ib.repo); head != headBefore {
		b.Logf("main moved during the restart measure (%s -> %s): its status writes are counted too", headBefore, head)
	}
	cpW, cpOther := diffWrites(cpBefore, cpAfter)
	appW, appOther := diffWrites(appBefore, appAfter)
	b.ReportMetric(float64(sum(cpW)), "resync-cp-writes")
	b.ReportMetric(float64(sum(appW)), "resync-app-writes")
	b.Logf("agent restarted with empty caches, %d synced instances, nothing new: idle after %s; writes in the next 20s: control plane %d %v, app cluster %d %v "+
		"(target 0 on either side); leases and events, not counted: control plane %v, app cluster %v",
		total+latencySamples, idle.Round(time.Millisecond), sum(cpW), cpW, sum(appW), appW, cpOther, appOther)
}

// requestLine matches apiserver_request_total's label set and value.
var requestLine = regexp.MustCompile(`^apiserver_request_total\{(.*)\} (\S+)$`)
var labelPair = regexp.MustCompile(`(\w+)="([^"]*)"`)

// apiserverWrites returns apiserver_request_total for the writing verbs, by
// "VERB resource[/subresource]".
func apiserverWrites(ctx context.Context, b *testing.B, cfg *rest.Config) map[string]float64 {
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(b, err)
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	require.NoError(b, err)
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := requestLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		labels := map[string]string{}
		for _, p := range labelPair.FindAllStringSubmatch(m[1], -1) {
			labels[p[1]] = p[2]
		}
		switch labels["verb"] {
		case "POST", "PUT", "PATCH", "DELETE", "APPLY", "DELETECOLLECTION":
		default:
			continue
		}
		if labels["dry_run"] != "" {
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		k := labels["verb"] + " " + labels["resource"]
		if labels["subresource"] != "" {
			k += "/" + labels["subresource"]
		}
		out[k] += v
	}
	return out
}

// diffWrites splits the writes between two readings into counted ones and
// leases and events.
func diffWrites(before, after map[string]float64) (counted, other map[string]int) {
	counted, other = map[string]int{}, map[string]int{}
	for k, v := range after {
		d := int(v - before[k])
		if d == 0 {
			continue
		}
		if strings.HasSuffix(k, " leases") || strings.HasSuffix(k, " events") {
			other[k] = d
			continue
		}
		counted[k] = d
	}
	return counted, other
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// waitBindingsReady waits until every named binding is Ready.
func waitBindingsReady(ctx context.Context, b *testing.B, app *testenv.Cluster, names []string) {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		var list v1alpha1.APIServiceBindingList
		if err := app.Client.List(ctx, &list); err != nil {
			return false, nil
		}
		ready := 0
		for _, bd := range list.Items {
			if readyTrue(&bd) {
				ready++
			}
		}
		return ready >= len(names), nil
	})
	require.NoError(b, err, "bindings not Ready")
}

// seen follows the objects of the instance CRDs on one server: when each
// was first seen and when it first had Ready=True.
type seen struct {
	mu     sync.Mutex
	first  map[string]time.Time
	readyT map[string]time.Time
}

func watchAll(ctx context.Context, b *testing.B, cfg *rest.Config, gvrs []schema.GroupVersionResource, selector string) *seen {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(b, err)
	s := &seen{first: map[string]time.Time{}, readyT: map[string]time.Time{}}
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, "", func(o *metav1.ListOptions) { o.LabelSelector = selector })
	var synced []cache.InformerSynced
	for _, g := range gvrs {
		inf := f.ForResource(g).Informer()
		_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { s.record(g, o) },
			UpdateFunc: func(_, o any) { s.record(g, o) },
		})
		require.NoError(b, err)
		synced = append(synced, inf.HasSynced)
	}
	f.Start(ctx.Done())
	require.True(b, cache.WaitForCacheSync(ctx.Done(), synced...))
	return s
}

// objectKey names one object of one resource: the same name is used in
// every CRD.
func objectKey(g schema.GroupVersionResource, ns, name string) string {
	return g.Resource + ":" + ns + "/" + name
}

func (s *seen) record(g schema.GroupVersionResource, o any) {
	u, ok := o.(*unstructured.Unstructured)
	if !ok {
		return
	}
	now := time.Now()
	k := objectKey(g, u.GetNamespace(), u.GetName())
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.first[k]; !ok {
		s.first[k] = now
	}
	if _, ok := s.readyT[k]; !ok && readyStatus(u) {
		s.readyT[k] = now
	}
}

func readyStatus(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" && m["status"] == "True" {
			return true
		}
	}
	return false
}

func (s *seen) counts() (all, ready int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.first), len(s.readyT)
}

func (s *seen) waitCount(b *testing.B, n int, limit time.Duration, what string) {
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, limit, true, func(context.Context) (bool, error) {
		all, _ := s.counts()
		return all >= n, nil
	})
	all, _ := s.counts()
	require.NoError(b, err, "%s: %d of %d seen", what, all, n)
}

func (s *seen) waitReady(b *testing.B, n int, limit time.Duration) {
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, limit, true, func(context.Context) (bool, error) {
		_, ready := s.counts()
		return ready >= n, nil
	})
	_, ready := s.counts()
	require.NoError(b, err, "%d of %d app objects Ready", ready, n)
}

// waitAt returns when key was first seen, or first seen Ready.
func (s *seen) waitAt(b *testing.B, key string, ready bool) time.Time {
	var at time.Time
	err := wait.PollUntilContextTimeout(context.Background(), 5*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		m := s.first
		if ready {
			m = s.readyT
		}
		t, ok := m[key]
		at = t
		return ok, nil
	})
	require.NoError(b, err, "waiting for %s (ready: %v)", key, ready)
	return at
}

// startProc starts a helper process (backend, stand-in provider) for the
// benchmark; its log is shown when the benchmark fails.
func startProc(b *testing.B, name string, args ...string) {
	log := filepath.Join(b.TempDir(), name+".log")
	f, err := os.Create(log)
	require.NoError(b, err)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(b, cmd.Start())
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		_ = f.Close()
		if b.Failed() {
			b.Logf("%s log (%s):\n%s", name, log, tail(log, 30))
		}
	})
}

// lsRemoteHead is main's head in the repository at url, as git ls-remote
// gives it.
func lsRemoteHead(b *testing.B, url string) string {
	b.Helper()
	out, err := exec.Command("git", "ls-remote", url, "refs/heads/main").Output()
	require.NoError(b, err, "git ls-remote %s", url)
	return strings.TrimSpace(strings.SplitN(string(out), "\t", 2)[0])
}
