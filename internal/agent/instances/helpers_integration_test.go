package instances_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent/instances"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

// Every test has its own cluster name and its own CRD group, so the tests
// share two API servers without seeing each other's objects.

const (
	kind              = "Database"
	resource          = "databases"
	refusedPlan       = "refused"
	providerFinalizer = "provider.test.bindsync.io/deprovision"
	claimedLabel      = "test.bindsync.io/claimed"
)

// fixture is one app cluster (a name and a CRD group) synced by a Syncer
// that acts on the control plane as the cluster's agent ServiceAccount.
type fixture struct {
	t       testing.TB
	ctx     context.Context
	cluster string
	cp, app *testenv.Cluster
	cpDyn   dynamic.Interface // administrator
	appDyn  dynamic.Interface
	api     instances.API // apis[0]
	gvr     schema.GroupVersionResource
	apis    []instances.API
	gvrs    []schema.GroupVersionResource
	events  *eventLog

	// cpWrites and appWrites count the syncer's writes on each side;
	// writes names each of them ("cp PUT /apis/...").
	cpWrites, appWrites atomic.Int64
	writes              requestLog
	// holdDeletion keeps the stand-in provider's finalizer on copies.
	holdDeletion atomic.Bool
	// pauseBackend leaves APIServiceNamespaces unfulfilled.
	pauseBackend atomic.Bool
	// instanceRules are the rules of the Role bindsync-agent the backend
	// writes into each of the cluster's instance namespaces.
	instanceRules []rbacv1.PolicyRule
	// proxy stands between the syncer and the control plane (nil: none).
	proxy *switchProxy

	syncer *instances.Syncer
	stop   func()
}

var installOnce sync.Once

// newFixture sets up cluster (its namespace, agent RBAC, a bound CRD with
// an export that claims provider-owned Secrets by reference and
// consumer-owned ConfigMaps by label, the binding in the app cluster) and
// runs the stand-in backend and provider. The syncer is started with start.
func newFixture(t testing.TB, cluster string, withProxy bool) *fixture {
	return newFixtureAPIs(t, cluster, withProxy, 1, true)
}

// newFixtureAPIs is newFixture with n bound APIs (CRD groups), and the
// stand-in provider only when provider is set.
func newFixtureAPIs(t testing.TB, cluster string, withProxy bool, n int, provider bool) *fixture {
	t.Helper()
	cp, app := testenv.SharedPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	installOnce.Do(func() {
		for _, c := range []*testenv.Cluster{cp, app} {
			root, err := testenv.ModuleRoot()
			require.NoError(t, err)
			_, err = c.InstallCRDs(ctx, root+"/config/crd")
			require.NoError(t, err)
		}
	})
	f := &fixture{t: t, ctx: ctx, cluster: cluster, cp: cp, app: app, events: &eventLog{}}
	for i := range n {
		group := cluster + ".test.bindsync.io"
		if i > 0 {
			group = fmt.Sprintf("%s%d.test.bindsync.io", cluster, i)
		}
		f.apis = append(f.apis, instances.API{Binding: resource + "." + group,
			GVK: schema.GroupVersionKind{Group: group, Version: "v1", Kind: kind}, Resource: resource, Namespaced: true})
		f.gvrs = append(f.gvrs, schema.GroupVersionResource{Group: group, Version: "v1", Resource: resource})
	}
	f.api, f.gvr = f.apis[0], f.gvrs[0]
	var err error
	f.cpDyn, err = dynamic.NewForConfig(cp.Config)
	require.NoError(t, err)
	f.appDyn, err = dynamic.NewForConfig(app.Config)
	require.NoError(t, err)

	for _, a := range f.apis {
		require.NoError(t, cp.Client.Create(ctx, testCRD(a.GVK.Group, true)))
		require.NoError(t, app.Client.Create(ctx, testCRD(a.GVK.Group, false)))
		require.NoError(t, cp.WaitEstablished(ctx, a.Binding))
		require.NoError(t, app.WaitEstablished(ctx, a.Binding))
		require.NoError(t, app.Client.Create(ctx, &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: a.Binding}}))
	}
	f.setupControlPlane()
	if withProxy {
		f.proxy = newSwitchProxy(t, cp.Config.Host)
	}
	go f.backend()
	if provider {
		go f.provider()
	}
	return f
}

// testCRD is a small namespaced CRD: spec.plan, spec.size, a connection
// Secret reference and room for provider-set fields; the control plane's
// refuses the plan "refused" (a CEL rule, as a provider's validation would).
func testCRD(group string, controlPlane bool) *apiextensionsv1.CustomResourceDefinition {
	preserve := true
	spec := apiextensionsv1.JSONSchemaProps{Type: "object", XPreserveUnknownFields: &preserve,
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"plan": {Type: "string"}, "size": {Type: "integer"},
			"writeConnectionSecretToRef": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{"name": {Type: "string"}}},
		}}
	if controlPlane {
		spec.XValidations = apiextensionsv1.ValidationRules{{Rule: "!has(self.plan) || self.plan != '" + refusedPlan + "'", Message: "plan refused is not offered"}}
	}
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: resource + "." + group},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group, Scope: apiextensionsv1.NamespaceScoped,
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: resource, Singular: "database", Kind: kind, ListKind: kind + "List"},
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec":   spec,
						"status": {Type: "object", XPreserveUnknownFields: &preserve},
					}}},
			}},
		},
	}
}

// setupControlPlane makes what the backend renders for the cluster: its
// namespace, the agent ServiceAccount and Role there, the export with its
// claims; the Role of each instance namespace is written by backend.
func (f *fixture) setupControlPlane() {
	t, ctx, c := f.t, f.ctx, f.cp.Client
	ns := "bindsync-" + f.cluster
	var groups []string
	for _, g := range f.gvrs {
		groups = append(groups, g.Group)
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "bindsync-agent", Namespace: ns}},
		&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "bindsync-agent", Namespace: ns}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{v1alpha1.GroupName}, Resources: []string{"apiserviceexports"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{v1alpha1.GroupName}, Resources: []string{"apiservicenamespaces"}, Verbs: []string{"create", "get", "list", "watch"}},
		}},
		&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bindsync-agent", Namespace: ns},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "bindsync-agent"},
			Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "bindsync-agent", Namespace: ns}}},
	}
	f.instanceRules = []rbacv1.PolicyRule{
		{APIGroups: groups, Resources: []string{resource}, Verbs: []string{"create", "delete", "get", "list", "patch", "update", "watch"}},
		{APIGroups: groups, Resources: []string{resource + "/status"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"create", "get", "list", "watch", "update", "patch"}},
	}
	for _, a := range f.apis {
		objs = append(objs,
			&v1alpha1.APIServiceExport{ObjectMeta: metav1.ObjectMeta{Name: a.Binding, Namespace: ns},
				Spec: v1alpha1.APIServiceExportSpec{
					CRDSnapshot: v1alpha1.CRDSnapshot{Group: a.GVK.Group, Scope: apiextensionsv1.NamespaceScoped,
						Names:    apiextensionsv1.CustomResourceDefinitionNames{Plural: resource, Kind: kind},
						Versions: []v1alpha1.ExportVersion{{Name: "v1", Served: true, Storage: true, Schema: runtime.RawExtension{Raw: []byte(`{"type":"object"}`)}}}},
					SchemaHash:  strings.Repeat("0", 64),
					TemplateRef: v1alpha1.TemplateReference{Name: "databases"},
					PermissionClaims: []v1alpha1.PermissionClaim{
						{GroupResource: v1alpha1.GroupResource{Resource: "secrets"}, Verbs: []v1alpha1.Verb{"get", "list", "watch"},
							References: []v1alpha1.ClaimReference{{Group: a.GVK.Group, Resource: resource, JSONPath: ".spec.writeConnectionSecretToRef.name"}}},
						{GroupResource: v1alpha1.GroupResource{Resource: "configmaps"}, Verbs: []v1alpha1.Verb{"create", "get", "list", "watch", "update", "patch"},
							Owner:    v1alpha1.ClaimOwnerConsumer,
							Selector: &metav1.LabelSelector{MatchLabels: map[string]string{claimedLabel: "true"}}},
					},
				}})
	}
	for _, o := range objs {
		require.NoError(t, c.Create(ctx, o), "create %T %s", o, o.GetName())
	}
}

// startSyncer starts a Syncer for the fixture's cluster, acting on the
// control plane as bindsync-<cluster>/bindsync-agent; stop stops it.
func (f *fixture) startSyncer(resync time.Duration) {
	f.t.Helper()
	cpCfg := f.cp.ImpersonateConfig(testenv.ServiceAccountUser("bindsync-"+f.cluster, "bindsync-agent"))
	if f.proxy != nil {
		cpCfg.Host = f.proxy.url()
	}
	cpCfg.Wrap(countWrites(&f.cpWrites, &f.writes, "cp"))
	appCfg := rest.CopyConfig(f.app.Config)
	appCfg.Wrap(countWrites(&f.appWrites, &f.writes, "app"))
	s, err := instances.New(instances.Options{Cluster: f.cluster, App: appCfg, ControlPlane: cpCfg, Events: f.events, Resync: resync})
	require.NoError(f.t, err)
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- s.Start(ctx) }()
	s.Set(f.apis)
	f.syncer = s
	stopped := false
	f.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		require.NoError(f.t, <-done)
	}
	f.t.Cleanup(f.stop)
}

// backend fulfils the cluster's APIServiceNamespaces as the backend does
// once main holds them: the namespace, the agent's Role and RoleBinding in
// it, and the status.
func (f *fixture) backend() {
	ctx, c := f.ctx, f.cp.Client
	for ctx.Err() == nil {
		var list v1alpha1.APIServiceNamespaceList
		if f.pauseBackend.Load() {
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		if err := c.List(ctx, &list, client.InNamespace("bindsync-"+f.cluster)); err == nil {
			for i := range list.Items {
				n := &list.Items[i]
				if n.Status.Namespace != "" {
					continue
				}
				name := render.InstanceNamespace(f.cluster, n.Name)
				_ = c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
					v1alpha1.ManagedLabel: "true", v1alpha1.ClusterLabel: f.cluster, v1alpha1.ConsumerNamespaceLabel: n.Name}}})
				_ = c.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "bindsync-agent", Namespace: name}, Rules: f.instanceRules})
				_ = c.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "bindsync-agent", Namespace: name},
					RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "bindsync-agent"},
					Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "bindsync-agent", Namespace: "bindsync-" + f.cluster}}})
				n.Status.Namespace = name
				n.Status.Revision = "main@sha1:test"
				meta.SetStatusCondition(&n.Status.Conditions, metav1.Condition{Type: v1alpha1.ReadyCondition, Status: metav1.ConditionTrue,
					Reason: v1alpha1.SucceededReason, Message: "applied"})
				_ = c.Status().Update(ctx, n)
			}
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// provider stands in for Crossplane on the control plane: for each copy in
// the cluster's instance namespaces it adds its finalizer, sets a spec field
// of its own (resourceRef), writes status and the connection Secret, and on
// deletion removes its finalizer unless holdDeletion is set.
func (f *fixture) provider() {
	ctx := f.ctx
	for ctx.Err() == nil {
		var nss corev1.NamespaceList
		_ = f.cp.Client.List(ctx, &nss, client.MatchingLabels{v1alpha1.ClusterLabel: f.cluster})
		for _, ns := range nss.Items {
			list, err := f.cpDyn.Resource(f.gvr).Namespace(ns.Name).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			for i := range list.Items {
				f.provide(&list.Items[i])
			}
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

func (f *fixture) provide(o *unstructured.Unstructured) {
	ctx, res := f.ctx, f.cpDyn.Resource(f.gvr).Namespace(o.GetNamespace())
	if o.GetDeletionTimestamp() != nil {
		if !f.holdDeletion.Load() {
			o.SetFinalizers(nil)
			_, _ = res.Update(ctx, o, metav1.UpdateOptions{FieldManager: "provider"})
		}
		return
	}
	changed := false
	if len(o.GetFinalizers()) == 0 {
		o.SetFinalizers([]string{providerFinalizer})
		changed = true
	}
	if _, ok, _ := unstructured.NestedString(o.Object, "spec", "resourceRef", "name"); !ok {
		_ = unstructured.SetNestedField(o.Object, "pg-"+o.GetName(), "spec", "resourceRef", "name")
		changed = true
	}
	if changed {
		if _, err := res.Update(ctx, o, metav1.UpdateOptions{FieldManager: "provider"}); err != nil {
			return
		}
		return // status on the next round, from a fresh read
	}
	plan, _, _ := unstructured.NestedString(o.Object, "spec", "plan")
	want := map[string]any{"phase": "Ready", "plan": plan, "namespace": o.GetNamespace()}
	if have, _, _ := unstructured.NestedMap(o.Object, "status"); !equalJSON(have, want) {
		o.Object["status"] = want
		_, _ = res.UpdateStatus(ctx, o, metav1.UpdateOptions{FieldManager: "provider"})
	}
	// A reference to "victim-..." names another cluster's Secret: the
	// provider writes nothing for it.
	if name, _, _ := unstructured.NestedString(o.Object, "spec", "writeConnectionSecretToRef", "name"); name != "" && !strings.HasPrefix(name, "victim") {
		_ = f.cp.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: o.GetNamespace()},
			Data: map[string][]byte{"password": []byte("secret-of-" + o.GetNamespace())}})
	}
}

func equalJSON(a, b map[string]any) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// database is an app object of the fixture's kind.
func (f *fixture) database(ns, name, plan, secret string) *unstructured.Unstructured {
	o := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"plan": plan, "size": int64(10)}}}
	o.SetGroupVersionKind(f.api.GVK)
	o.SetNamespace(ns)
	o.SetName(name)
	if secret != "" {
		_ = unstructured.SetNestedField(o.Object, secret, "spec", "writeConnectionSecretToRef", "name")
	}
	return o
}

func (f *fixture) createNamespace(c *testenv.Cluster, name string) {
	f.t.Helper()
	require.NoError(f.t, c.Client.Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
}

func (f *fixture) createApp(o *unstructured.Unstructured) {
	f.t.Helper()
	_, err := f.appDyn.Resource(f.gvr).Namespace(o.GetNamespace()).Create(f.ctx, o, metav1.CreateOptions{})
	require.NoError(f.t, err)
}

func (f *fixture) appObject(ns, name string) (*unstructured.Unstructured, error) {
	return f.appDyn.Resource(f.gvr).Namespace(ns).Get(f.ctx, name, metav1.GetOptions{})
}

func (f *fixture) copyOf(ns, name string) (*unstructured.Unstructured, error) {
	return f.cpDyn.Resource(f.gvr).Namespace(render.InstanceNamespace(f.cluster, ns)).Get(f.ctx, name, metav1.GetOptions{})
}

// binding returns the fixture's APIServiceBinding and its InstancesSynced
// condition (nil while absent).
func (f *fixture) binding() (*v1alpha1.APIServiceBinding, *metav1.Condition) {
	f.t.Helper()
	var b v1alpha1.APIServiceBinding
	require.NoError(f.t, f.app.Client.Get(f.ctx, client.ObjectKey{Name: f.api.Binding}, &b))
	return &b, meta.FindStatusCondition(b.Status.Conditions, v1alpha1.InstancesSyncedCondition)
}

// waitCondition waits until InstancesSynced has status, reason and message.
func (f *fixture) waitCondition(status metav1.ConditionStatus, reason, message string) *v1alpha1.APIServiceBinding {
	f.t.Helper()
	var b *v1alpha1.APIServiceBinding
	eventually(f.t, 60*time.Second, func() error {
		var c *metav1.Condition
		b, c = f.binding()
		if c == nil || c.Status != status || c.Reason != reason || (message != "" && c.Message != message) {
			return fmt.Errorf("InstancesSynced is %+v, want %s %s %q", c, status, reason, message)
		}
		return nil
	})
	return b
}

// waitProvided waits until the stand-in provider holds the copies of the
// named app objects of ns (its finalizer is on them).
func (f *fixture) waitProvided(ns string, names ...string) {
	f.t.Helper()
	for _, name := range names {
		eventually(f.t, 30*time.Second, func() error {
			c, err := f.copyOf(ns, name)
			if err != nil {
				return err
			}
			if len(c.GetFinalizers()) == 0 {
				return fmt.Errorf("the provider does not hold copy %s/%s yet", c.GetNamespace(), name)
			}
			return nil
		})
	}
}

// removeFinalizers empties an app object's finalizers, as a user forcing a
// delete does.
func (f *fixture) removeFinalizers(ns, name string) {
	f.t.Helper()
	_, err := f.appDyn.Resource(f.gvr).Namespace(ns).Patch(f.ctx, name, types.MergePatchType,
		[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	require.NoError(f.t, err)
}

// eventually retries fn until it returns nil, and fails with its last error.
func eventually(t testing.TB, d time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func notFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		return errors.New("still exists")
	}
	return err
}

// eventLog records the syncer's events.
type eventLog struct {
	mu     sync.Mutex
	events []event
}

type event struct{ object, typ, reason, message string }

func (l *eventLog) Eventf(o runtime.Object, typ, reason, format string, args ...any) {
	m, _ := meta.Accessor(o)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, event{object: m.GetNamespace() + "/" + m.GetName(), typ: typ, reason: reason, message: fmt.Sprintf(format, args...)})
}

// find returns the first event on object with reason.
func (l *eventLog) find(object, reason string) (event, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.events {
		if e.object == object && e.reason == reason {
			return e, true
		}
	}
	return event{}, false
}

// countWrites counts requests that change something (every method but
// GET), and logs them as "side METHOD path".
func countWrites(n *atomic.Int64, log *requestLog, side string) func(http.RoundTripper) http.RoundTripper {
	return func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method != http.MethodGet {
				n.Add(1)
				log.add(side + " " + r.Method + " " + r.URL.Path)
			}
			return rt.RoundTrip(r)
		})
	}
}

// requestLog records requests, in order.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) add(r string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r)
}

// since returns the requests logged after the first n.
func (l *requestLog) since(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reqs[min(n, len(l.reqs)):]...)
}

func (l *requestLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reqs)
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// switchProxy forwards TCP connections to an API server while on; off
// closes every connection and refuses new ones, as a control plane that
// went away.
type switchProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	on     bool
	conns  map[net.Conn]bool
}

func newSwitchProxy(t testing.TB, host string) *switchProxy {
	t.Helper()
	u, err := url.Parse(host)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &switchProxy{ln: ln, target: u.Host, on: true, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { _ = ln.Close(); p.set(false) })
	go p.serve()
	return p
}

func (p *switchProxy) url() string { return "https://" + p.ln.Addr().String() }

func (p *switchProxy) set(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.on = on
	if !on {
		for c := range p.conns {
			_ = c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}

func (p *switchProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		on := p.on
		p.mu.Unlock()
		if !on {
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}
