// Package testenv starts real Kubernetes API servers (kube-apiserver and etcd,
// through controller-runtime's envtest) for bindsync's integration tests.
//
// The binaries come from KUBEBUILDER_ASSETS, or from bin/k8s in the module
// root when that is unset; `make testbin` builds them from pinned module
// versions, and `make test` always does, so CI never skips. A test that asks
// for a server when the binaries are missing is skipped with a message naming
// `make testbin`, unless KUBEBUILDER_ASSETS was set explicitly: then the
// binaries were asked for and their absence fails the test. Tests run with
// -short are skipped: they are the unit tests.
//
// Servers listen on loopback only and are stopped when the test (Start,
// StartPair) or the test binary (SharedPair with Main) ends. A pair is the
// shape of a bindsync installation: a control plane and one app cluster.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	bindsyncv1alpha1 "github.com/bindsync/bindsync/api/v1alpha1"
)

// FieldOwner is the server-side apply field manager of objects a test applies.
const FieldOwner = "bindsync-test"

// Names of the servers StartPair and SharedPair start.
const (
	ControlPlaneName = "control-plane"
	AppName          = "app"
)

// Scheme returns a scheme with client-go's built-in kinds, apiextensions v1
// and bindsync's kinds.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(bindsyncv1alpha1.AddToScheme(s))
	return s
}

// Cluster is one running API server.
type Cluster struct {
	// Name says which server this is in messages: "control-plane", "app".
	Name string
	// Config authenticates as an administrator (system:masters).
	Config *rest.Config
	// Client is an administrator client with Scheme().
	Client client.Client
	// Started is how long the server took to start.
	Started time.Duration

	env      *envtest.Environment
	watchdog *watchdog
}

// New starts an API server and its etcd. The caller stops it with Stop. Most
// tests want Start, StartPair or SharedPair instead.
func New(name string) (*Cluster, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	begin := time.Now()
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		UseExistingCluster:       new(false),
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	env.ControlPlane.GetAPIServer().Path = filepath.Join(assets, "kube-apiserver")
	env.ControlPlane.GetAPIServer().SecureServing.ListenAddr.Address = "127.0.0.1"
	cfg, err := env.Start()
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("start %s API server: %w", name, err)
	}
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("client for %s API server: %w", name, err)
	}
	return &Cluster{
		Name: name, Config: cfg, Client: c, Started: time.Since(begin), env: env,
		watchdog: startWatchdog(env.ControlPlane.APIServer.CertDir, env.ControlPlane.Etcd.DataDir),
	}, nil
}

// WriteKubeconfig writes an administrator kubeconfig for the server into a
// temporary folder of t and returns its path, for tests that run bindsync's
// commands with --kubeconfig.
func (c *Cluster) WriteKubeconfig(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), c.Name+".kubeconfig")
	if err := os.WriteFile(p, c.env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Stop stops the API server and etcd and removes their data.
func (c *Cluster) Stop() error {
	defer c.watchdog.stop()
	if err := c.env.Stop(); err != nil {
		return fmt.Errorf("stop %s API server: %w", c.Name, err)
	}
	return nil
}

// Start starts an API server for one test and stops it when the test ends.
func Start(t testing.TB, name string) *Cluster {
	t.Helper()
	skipUnlessAvailable(t)
	c, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("%s API server started in %s", name, c.Started.Round(time.Millisecond))
	return c
}

// StartPair starts a control plane and an app cluster in parallel for one
// test and stops both when the test ends.
func StartPair(t testing.TB) (controlPlane, app *Cluster) {
	t.Helper()
	skipUnlessAvailable(t)
	cp, a, err := NewPair()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, err := range stopAll(cp, a) {
			t.Error(err)
		}
	})
	t.Logf("API servers started in %s and %s", cp.Started.Round(time.Millisecond), a.Started.Round(time.Millisecond))
	return cp, a
}

// NewPair starts a control plane and an app cluster in parallel. The caller
// stops them; on error nothing is left running.
func NewPair() (controlPlane, app *Cluster, err error) {
	var wg sync.WaitGroup
	var cpErr, appErr error
	wg.Go(func() { controlPlane, cpErr = New(ControlPlaneName) })
	wg.Go(func() { app, appErr = New(AppName) })
	wg.Wait()
	if err := errors.Join(cpErr, appErr); err != nil {
		stopAll(controlPlane, app)
		return nil, nil, err
	}
	return controlPlane, app, nil
}

func stopAll(clusters ...*Cluster) []error {
	var errs []error
	for _, c := range clusters {
		if c == nil {
			continue
		}
		if err := c.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// shared is the pair SharedPair starts once per test binary.
var shared struct {
	once         sync.Once
	controlPlane *Cluster
	app          *Cluster
	err          error
}

// SharedPair returns a control plane and an app cluster shared by every test
// of the package, started in parallel on first use. The package's TestMain
// must call Main so that they are stopped. Tests that share servers must
// not get in each other's way: use distinct namespaces and names.
func SharedPair(t testing.TB) (controlPlane, app *Cluster) {
	t.Helper()
	skipUnlessAvailable(t)
	shared.once.Do(func() {
		shared.controlPlane, shared.app, shared.err = NewPair()
		if shared.err == nil {
			t.Logf("shared API servers started in %s and %s",
				shared.controlPlane.Started.Round(time.Millisecond), shared.app.Started.Round(time.Millisecond))
		}
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.controlPlane, shared.app
}

// Main runs the package's tests and then stops the servers SharedPair
// started. Use it as `func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }`.
// It also discards controller-runtime's log unless a test sets its own
// logger, which silences the library's "SetLogger was never called" warning.
func Main(m *testing.M) int {
	ctrllog.SetLogger(logr.Discard())
	code := m.Run()
	for _, err := range stopAll(shared.controlPlane, shared.app) {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	return code
}

// skipUnlessAvailable skips in -short mode and when the binaries are
// missing, unless KUBEBUILDER_ASSETS asked for them explicitly.
func skipUnlessAvailable(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts API servers: skipped with -short")
	}
	if _, err := AssetsDir(); err != nil {
		if os.Getenv("KUBEBUILDER_ASSETS") != "" {
			t.Fatalf("%v (KUBEBUILDER_ASSETS is set, so the test API servers were asked for; run `make testbin`)", err)
		}
		t.Skipf("%v: run `make testbin` to build the test API servers (`make test` does)", err)
	}
}

// AssetsDir returns the folder holding kube-apiserver and etcd:
// KUBEBUILDER_ASSETS if set, else bin/k8s in the module root. It fails when
// either binary is missing.
func AssetsDir() (string, error) {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		root, err := ModuleRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "bin", "k8s")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		info, err := os.Stat(filepath.Join(dir, bin))
		if err != nil {
			return "", fmt.Errorf("test API server binary %s not found in %s", bin, dir)
		}
		if info.IsDir() || info.Mode().Perm()&0o111 == 0 {
			return "", fmt.Errorf("test API server binary %s in %s is not executable", bin, dir)
		}
	}
	return dir, nil
}

// ModuleRoot returns the folder holding bindsync's go.mod, found by walking
// up from the working directory (a test's package folder).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// applyObjects is shared by Cluster.ApplyObjects and impersonated clients.
// A CRD can be Established a moment before the API server's discovery
// serves its kind, so "no matches for kind" is retried for a few seconds.
func applyObjects(ctx context.Context, c client.Client, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		var err error
		for wait := 50 * time.Millisecond; ; wait *= 2 {
			err = c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
				client.FieldOwner(FieldOwner), client.ForceOwnership)
			if !meta.IsNoMatchError(err) || wait > 5*time.Second {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("apply %s %s: %w", o.GetKind(), objectName(o), err)
			case <-time.After(wait):
			}
		}
		if err != nil {
			return fmt.Errorf("apply %s %s: %w", o.GetKind(), objectName(o), err)
		}
	}
	return nil
}

func objectName(o client.Object) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}
