package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	gogit "github.com/go-git/go-git/v5"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/agent"
	"github.com/bindsync/bindsync/internal/agent/source"
	"github.com/bindsync/bindsync/internal/manifest"
	"github.com/bindsync/bindsync/internal/render"
	"github.com/bindsync/bindsync/internal/schema"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
	"github.com/bindsync/bindsync/internal/testutil/gitrepo"
)

// stateRepo is a state repository on disk that a test commits to and an
// agent reads over file:// (internal/testutil/gitrepo).
type stateRepo struct {
	t    *testing.T
	g    *gitrepo.Repo
	dir  string
	repo *gogit.Repository
}

func newStateRepo(t *testing.T) *stateRepo {
	t.Helper()
	g := gitrepo.New(t)
	return &stateRepo{t: t, g: g, dir: g.Dir, repo: g.Repo}
}

func (r *stateRepo) url() string { return r.g.URL() }

// commit makes the repository's files exactly files (path -> content) and
// commits them; it returns the revision as the agent names it.
func (r *stateRepo) commit(files map[string]string) string {
	r.t.Helper()
	return r.commitSigned(files, nil)
}

// commitSigned is commit with an OpenPGP signature by key (nil: unsigned).
func (r *stateRepo) commitSigned(files map[string]string, key *openpgp.Entity) string {
	r.t.Helper()
	return r.commitMessage(files, key, "state")
}

// commitMessage is commitSigned with a commit message (trailers included).
func (r *stateRepo) commitMessage(files map[string]string, key *openpgp.Entity, msg string) string {
	r.t.Helper()
	r.g.Clear()
	r.g.Write(files)
	return "main@sha1:" + r.g.Commit(msg, key).String()
}

// testKind is one CRD of a test, kind <Kind> in group <group>.
type testKind struct {
	plural, kind, group string
	// fields are the spec properties of the schema (name -> type).
	fields map[string]string
}

func (k testKind) name() string { return k.plural + "." + k.group }

// crdFile renders the CRD as render writes it into an app folder: the
// snapshot of the provider's CRD turned back into a CRD, no cluster labels
// (the kustomization adds them), bindsync's annotations.
func (k testKind) crdFile() string {
	data, err := sigsyaml.Marshal(renderedCRD(k.providerCRD()))
	if err != nil {
		panic(err)
	}
	return string(data)
}

// providerCRD is the CRD as a provider defines it on the control plane.
func (k testKind) providerCRD() *apiextensionsv1.CustomResourceDefinition {
	var props strings.Builder
	names := make([]string, 0, len(k.fields))
	for f := range k.fields {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		fmt.Fprintf(&props, "                %s: {type: %s}\n", f, k.fields[f])
	}
	doc := fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %s
spec:
  group: %s
  scope: Namespaced
  names: {plural: %s, singular: %s, kind: %s, listKind: %sList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
%s`, k.name(), k.group, k.plural, strings.ToLower(k.kind), k.kind, k.kind, props.String())
	var crd apiextensionsv1.CustomResourceDefinition
	if err := sigsyaml.UnmarshalStrict([]byte(doc), &crd); err != nil {
		panic(err)
	}
	return &crd
}

// renderedCRD is what render writes for a provider's CRD: its snapshot
// turned back into a CRD, with the schema-hash and template annotations,
// without status and creationTimestamp.
func renderedCRD(crd *apiextensionsv1.CustomResourceDefinition) map[string]any {
	snap, err := schema.Snapshot(crd)
	if err != nil {
		panic(err)
	}
	hash, err := schema.Hash(snap)
	if err != nil {
		panic(err)
	}
	out, err := schema.ToCRD(snap)
	if err != nil {
		panic(err)
	}
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	out.Annotations[v1alpha1.SchemaHashAnnotation] = hash
	out.Annotations[v1alpha1.TemplateAnnotation] = "test"
	data, err := json.Marshal(out)
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		panic(err)
	}
	delete(m, "status")
	delete(m["metadata"].(map[string]any), "creationTimestamp")
	return m
}

// hash is the schema hash render computes: it changes with the schema.
func (k testKind) hash() string {
	snap, err := schema.Snapshot(k.providerCRD())
	if err != nil {
		panic(err)
	}
	hash, err := schema.Hash(snap)
	if err != nil {
		panic(err)
	}
	return hash
}

// appFolder returns the files of clusters/<cluster>/app holding kinds, laid
// out as render lays it out, plus extra files listed as resources.
func appFolder(cluster string, kinds []testKind, extra map[string]string) map[string]string {
	dir := staterepo.AppDir(cluster)
	files := map[string]string{}
	var resources []string
	for _, k := range kinds {
		p := "crds/" + k.name() + ".yaml"
		files[dir+"/"+p] = k.crdFile()
		resources = append(resources, p)
	}
	for p, c := range extra {
		files[dir+"/"+p] = c
		resources = append(resources, p)
	}
	sort.Strings(resources)
	files[dir+"/kustomization.yaml"] = fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
labels:
- pairs:
    bindsync.io/cluster: %s
    bindsync.io/managed: "true"
resources:
- %s
`, cluster, strings.Join(resources, "\n- "))
	return files
}

// agentUnderTest is an Agent on an app cluster reading repo, with its
// API requests and fetches counted.
type agentUnderTest struct {
	*agent.Agent
	src     *source.Source
	writes  *writeCounter
	events  *record.FakeRecorder
	cluster string
}

func newTestAgent(t *testing.T, app *testenv.Cluster, repo *stateRepo, cluster string) *agentUnderTest {
	t.Helper()
	return newTestAgentWith(t, app, repo, agent.Options{Cluster: cluster, WaitEstablished: 30 * time.Second})
}

// newTestAgentWith is an agent of cluster opts.Cluster reading repo, with
// opts (events recorded when opts.Events is nil), its writes to app counted.
func newTestAgentWith(t *testing.T, app *testenv.Cluster, repo *stateRepo, opts agent.Options) *agentUnderTest {
	t.Helper()
	src, err := source.New(source.Options{URL: repo.url(), Dir: staterepo.AppDir(opts.Cluster)})
	require.NoError(t, err)
	counter := &writeCounter{}
	cfg := counter.wrap(app.Config)
	c, err := client.New(cfg, client.Options{Scheme: testenv.Scheme()})
	require.NoError(t, err)
	events := record.NewFakeRecorder(100)
	if opts.Events == nil {
		opts.Events = events
	}
	a, err := agent.New(cfg, c, src, opts)
	require.NoError(t, err)
	return &agentUnderTest{Agent: a, src: src, writes: counter, events: events, cluster: opts.Cluster}
}

// createBinding creates an APIServiceBinding for kind.
func createBinding(ctx context.Context, t *testing.T, app *testenv.Cluster, name string, policy v1alpha1.DeletionPolicy) {
	t.Helper()
	b := &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.APIServiceBindingSpec{DeletionPolicy: policy}}
	require.NoError(t, app.Client.Create(ctx, b))
}

func getBinding(ctx context.Context, t *testing.T, app *testenv.Cluster, name string) *v1alpha1.APIServiceBinding {
	t.Helper()
	var b v1alpha1.APIServiceBinding
	require.NoError(t, app.Client.Get(ctx, client.ObjectKey{Name: name}, &b))
	return &b
}

// condition returns a binding's condition of that type, nil when absent.
func condition(b *v1alpha1.APIServiceBinding, typ string) *metav1.Condition {
	return meta.FindStatusCondition(b.Status.Conditions, typ)
}

func getCRD(ctx context.Context, t *testing.T, app *testenv.Cluster, name string) (*apiextensionsv1.CustomResourceDefinition, error) {
	t.Helper()
	var crd apiextensionsv1.CustomResourceDefinition
	err := app.Client.Get(ctx, client.ObjectKey{Name: name}, &crd)
	return &crd, err
}

// setupAgentTest starts an app cluster of the test's own, with bindsync's
// CRDs: an agent owns every APIServiceBinding of its cluster, so two agents
// must not share one API server.
func setupAgentTest(t *testing.T) (context.Context, *testenv.Cluster) {
	t.Helper()
	app := testenv.Start(t, testenv.AppName)
	ctx := testContext(t)
	names := installBindsyncCRDs(ctx, t, app)
	require.NoError(t, app.WaitEstablished(ctx, names...))
	return ctx, app
}

type (
	corev1Namespace          = corev1.Namespace
	rbacv1ClusterRoleBinding = rbacv1.ClusterRoleBinding
)

func testenvDecode(yaml string) ([]*unstructured.Unstructured, error) {
	return testenv.DecodeObjects([]byte(yaml))
}

// deleteBindingNow deletes a binding without the agent (its finalizer
// dropped), so the next case of a test starts clean.
func deleteBindingNow(ctx context.Context, t *testing.T, app *testenv.Cluster, name string) {
	t.Helper()
	b := getBinding(ctx, t, app, name)
	patch := client.MergeFrom(b.DeepCopy())
	b.Finalizers = nil
	require.NoError(t, app.Client.Patch(ctx, b, patch))
	require.NoError(t, client.IgnoreNotFound(app.Client.Delete(ctx, b)))
}

func clientKey(name string) client.ObjectKey { return client.ObjectKey{Name: name} }

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	return meta.FindStatusCondition(conds, typ)
}

// examplesOnPair starts a control plane and an app cluster with bindsync's
// CRDs, applies cluster's rendered control-plane folder to the control plane
// and commits the whole render of examples/control-plane to a new state
// repository; rev is that commit.
func examplesOnPair(ctx context.Context, t *testing.T, cluster string) (cp, app *testenv.Cluster, repo *stateRepo, rev string) {
	t.Helper()
	cp, app = testenv.StartPair(t)
	for _, c := range []*testenv.Cluster{cp, app} {
		names := installBindsyncCRDs(ctx, t, c)
		require.NoError(t, c.WaitEstablished(ctx, names...))
	}
	require.NoError(t, cp.ApplyObjects(ctx, renderedControlPlane(t, cluster)))
	in, problems, err := manifest.LoadDir(repoPath(t, "examples", "control-plane"))
	require.NoError(t, err)
	require.Empty(t, problems)
	files := map[string]string{}
	for p, data := range render.Render(in).Tree {
		files[p] = string(data)
	}
	repo = newStateRepo(t)
	return cp, app, repo, repo.commit(files)
}
