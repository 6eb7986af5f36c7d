// Package e2e runs bindsync's whole journey through the built binary: the
// backend and the agent are separate processes, started, killed and started
// again; the API servers are internal/testenv's real kube-apiserver and etcd;
// the state repository is a bare git repository the backend reaches with
// --repo file://, so the test can take it away (rename its folder) and give it
// back. The test is named TestIntegration..., so `make integration` selects it
// and -short skips it; `make test` runs it.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/testenv"
	_ "github.com/bindsync/bindsync/internal/testutil/golden" // defines -update for go test ./... -update
)

func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }

const (
	cluster   = "team-a"
	template  = "postgresql"
	request   = "postgresql"
	pgCRD     = "postgresqlinstances.anynines.com"
	specPath  = "/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties"
	waitLimit = 60 * time.Second
)

// journey is one installation: a control plane, an app cluster, a bare
// state repository, the backend and the agent as processes.
type journey struct {
	t            *testing.T
	ctx          context.Context
	cp, app      *testenv.Cluster
	bin          string
	dir          string // the test's folder
	remote       string // the bare state repository
	backend      *process
	agent        *process
	clusterNS    string
	cpKubeconfig string
	// cli says whether the binary has the journey commands (cluster add,
	// bind, approve, status, log); without them the test does their steps
	// through the API and git.
	cli bool
	// agentKubeconfig is the kubeconfig `cluster add` wrote for the
	// cluster's agent ("" without the CLI).
	agentKubeconfig string
}

func TestIntegrationEndToEndJourney(t *testing.T) {
	j := newJourney(t)

	// The platform team: the provider's CRD is on the control plane (newJourney),
	// a template offers it, the app cluster is onboarded.
	j.create(j.cp, &v1alpha1.APIServiceExportTemplate{ObjectMeta: metav1.ObjectMeta{Name: template},
		Spec: v1alpha1.APIServiceExportTemplateSpec{
			Resources:          []v1alpha1.GroupResource{{Group: "anynines.com", Resource: "postgresqlinstances"}},
			SchemaUpdatePolicy: v1alpha1.SchemaUpdatePolicy("NonBreaking"), Approval: v1alpha1.ApprovalPolicy("Automatic")}})
	j.clusterAdd()
	agentArgs := []string{j.bin, "agent", "--kubeconfig", j.app.WriteKubeconfig(t), "--cluster", cluster,
		"--repo", "file://" + j.remote, "--interval", "1s", "--retry-interval", "1s",
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0"}
	if j.agentKubeconfig != "" {
		agentArgs = append(agentArgs, "--control-plane-kubeconfig", j.agentKubeconfig)
	}
	j.agent = startProcess(t, "agent", agentArgs...)

	// The developer binds PostgreSQL and creates an instance.
	j.bind()
	boundHash := j.binding().Status.BoundSchemaHash
	instance := j.createInstance("orders-db")

	j.step("the agent killed mid-way: a compatible change waits for it and arrives when it is back", func(t *testing.T) {
		j.agent.kill(t)
		j.patchCRD(`[{"op":"add","path":"` + specPath + `/backupWindow","value":{"type":"string"}}]`)
		j.waitMainSubject("schema: "+pgCRD, "(non-breaking)")
		assert.False(t, j.appHasField("backupWindow"), "no agent, no change in the app cluster")
		j.agent.start(t)
		j.waitInSync("backupWindow arrived")
		assert.True(t, j.appHasField("backupWindow"))
	})

	j.step("the git remote down for a while: both sides say so, nothing is applied or removed, and it all resumes", func(t *testing.T) {
		away := j.remote + ".away"
		require.NoError(t, os.Rename(j.remote, away))
		j.eventually("the binding says SourceUnavailable", func() (bool, string) {
			c := condition(j.binding().Status.Conditions, v1alpha1.ReadyCondition)
			return c.Reason == v1alpha1.SourceUnavailableReason, c.Reason + ": " + c.Message
		})
		j.eventually("the request says GitUnavailable", func() (bool, string) {
			c := condition(j.request().Status.Conditions, v1alpha1.ReadyCondition)
			return c.Reason == v1alpha1.GitUnavailableReason, c.Reason + ": " + c.Message
		})
		// The provider changes the CRD while the remote is down.
		j.patchCRD(`[{"op":"add","path":"` + specPath + `/maintenanceWindow","value":{"type":"string"}}]`)
		time.Sleep(3 * time.Second)
		assert.True(t, j.appHasField("backupWindow"), "an outage removes nothing")
		assert.False(t, j.appHasField("maintenanceWindow"), "nothing new without the remote")
		assert.True(t, j.instanceExists(instance))

		require.NoError(t, os.Rename(away, j.remote))
		j.waitMainSubject("schema: "+pgCRD, "(non-breaking)")
		j.waitInSync("maintenanceWindow arrived")
		assert.True(t, j.appHasField("maintenanceWindow"), "the change made during the outage is not lost")
		assert.Equal(t, metav1.ConditionTrue, condition(j.request().Status.Conditions, v1alpha1.ReadyCondition).Status)
	})

	var held string
	j.step("the backend killed mid-way: a breaking change made meanwhile is held once it is back", func(t *testing.T) {
		before := j.head("main")
		j.backend.kill(t)
		j.patchCRD(`[{"op":"test","path":"` + specPath + `/expose/enum/1","value":"LoadBalancer"},` +
			`{"op":"remove","path":"` + specPath + `/expose/enum/1"}]`)
		j.backend.start(t)
		j.eventually("a bindsync/schema/ branch holds the change", func() (bool, string) {
			held = j.branch("bindsync/schema/" + pgCRD + "/")
			return held != "", "no branch"
		})
		body := run(t, "", "git", "--git-dir", j.remote, "log", "-1", "--format=%B", held)
		assert.Contains(t, body, "enum-value-removed", "the held commit names its findings")
		assert.Contains(t, body, "Bindsync-Compat: breaking")
		j.eventually("the template and the request say SchemaBreaking", func() (bool, string) {
			tc := condition(j.template().Status.Conditions, v1alpha1.ReadyCondition)
			rc := condition(j.request().Status.Conditions, v1alpha1.ReadyCondition)
			return tc.Reason == v1alpha1.SchemaBreakingReason && rc.Reason == v1alpha1.SchemaBreakingReason &&
				strings.Contains(tc.Message, held), "template: " + tc.Reason + ": " + tc.Message + "; request: " + rc.Reason
		})
		assert.Equal(t, before, j.head("main"), "main does not take a held change")
		j.waitInSync("the agent is at main's head")
		assert.Contains(t, j.appExposeValues(), "LoadBalancer", "the app cluster keeps the old schema")
	})

	j.step("approve: the held change rolls out", func(t *testing.T) {
		require.NotEmpty(t, held, "the previous step found the held branch")
		j.approve(held)
		j.eventually("the change arrived in the app cluster", func() (bool, string) {
			v := j.appExposeValues()
			return !slices.Contains(v, "LoadBalancer"), fmt.Sprint(v)
		})
		j.eventually("the template is Ready and the branch is gone", func() (bool, string) {
			tc := condition(j.template().Status.Conditions, v1alpha1.ReadyCondition)
			return tc.Status == metav1.ConditionTrue && j.branch("bindsync/schema/") == "", tc.Reason + ": " + tc.Message
		})
		j.waitInSync("the binding is at the merge")
	})

	j.step("status and log tell the story", func(t *testing.T) {
		if !j.cli {
			t.Skip("this bindsync has no status and log commands")
		}
		j.eventually("bindsync status --check: every export in sync", func() (bool, string) {
			out, err := exec.Command(j.bin, "status", "--kubeconfig", j.cpKubeconfig, "--check").CombinedOutput()
			return err == nil, string(out)
		})
		var fleet []struct {
			Cluster, Export, MainSchema, AgentSchema string
			InSync                                   bool
		}
		require.NoError(t, json.Unmarshal([]byte(run(t, j.dir, j.bin, "status", "--kubeconfig", j.cpKubeconfig, "-o", "json")), &fleet))
		require.Len(t, fleet, 1)
		assert.Equal(t, cluster, fleet[0].Cluster)
		assert.Equal(t, pgCRD, fleet[0].Export)
		assert.True(t, fleet[0].InSync)
		assert.Equal(t, fleet[0].MainSchema, j.binding().Status.BoundSchemaHash, "main's schema is the one the app cluster has")

		var entries []struct{ Cause, Approval, ApprovedBy, Subject string }
		require.NoError(t, json.Unmarshal([]byte(run(t, j.dir, j.bin, "log", "--repo", j.remote, "--cluster", cluster, "-o", "json")), &entries))
		var causes []string
		for _, e := range entries {
			causes = append(causes, e.Cause)
		}
		assert.Equal(t, []string{"bind"}, slices.DeleteFunc(slices.Clone(causes), func(c string) bool { return c != "bind" }),
			"one bind in the cluster's log: %q", causes)
		require.NoError(t, json.Unmarshal([]byte(run(t, j.dir, j.bin, "log", "--repo", j.remote, "-o", "json")), &entries))
		require.NotEmpty(t, entries)
		assert.Equal(t, "Platform Operator <operator@example.com>", entries[0].ApprovedBy, "the newest entry is the approval, naming who approved")
		assert.Equal(t, "merged", entries[0].Approval)
	})

	j.step("nothing is lost", func(t *testing.T) {
		assert.True(t, j.instanceExists(instance), "the PostgresqlInstance made before every outage is still there")
		subjects := j.subjects()
		var binds, schemas int
		for _, s := range subjects {
			switch {
			case strings.HasPrefix(s, "bind: "+cluster+" <- "+template):
				binds++
			case strings.HasPrefix(s, "schema: "+pgCRD) && strings.HasSuffix(s, "(non-breaking)"):
				schemas++
			}
		}
		assert.Equal(t, 1, binds, "one bind commit, however often the backend restarted: %q", subjects)
		assert.Equal(t, 2, schemas, "both compatible changes are on main: %q", subjects)
		b := j.binding()
		var hashes []string
		for _, h := range b.Status.History {
			hashes = append(hashes, h.SchemaHash)
		}
		assert.Len(t, hashes, 4, "the binding's history holds every schema it had: bind, two fields, the approved change")
		assert.Contains(t, hashes, boundHash)
		assert.NotContains(t, hashes[1:], hashes[0], "the newest schema is new")
		assert.Equal(t, "main@sha1:"+j.head("main"), b.Status.LastAppliedRevision)
		assert.Equal(t, "main@sha1:"+j.head("main"), j.request().Status.Revision)
	})
}

// step runs one part of the journey as a subtest; the journey stops at the
// first part that fails, since every later part builds on it.
func (j *journey) step(name string, fn func(t *testing.T)) {
	parent := j.t
	ok := parent.Run(name, func(t *testing.T) {
		j.t = t
		fn(t)
	})
	j.t = parent
	if !ok {
		parent.FailNow()
	}
}

// newJourney starts the API servers, builds the binary (in parallel), creates
// the bare state repository and starts the backend.
func newJourney(t *testing.T) *journey {
	root, err := testenv.ModuleRoot()
	require.NoError(t, err)
	dir := t.TempDir()
	built := make(chan error, 1)
	var bin string
	go func() { var err error; bin, err = testenv.BuildBindsync(dir); built <- err }()
	cp, app := testenv.StartPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	for _, c := range []*testenv.Cluster{cp, app} {
		_, err := c.InstallCRDs(ctx, filepath.Join(root, "config", "crd"))
		require.NoError(t, err)
	}
	_, err = cp.InstallCRDs(ctx, filepath.Join(root, "testdata", "crds", "klutch", pgCRD+".yaml"))
	require.NoError(t, err)
	require.NoError(t, <-built)

	j := &journey{t: t, ctx: ctx, cp: cp, app: app, bin: bin, dir: dir,
		remote: filepath.Join(dir, "state.git"), clusterNS: v1alpha1.ClusterNamespace(cluster),
		cpKubeconfig: cp.WriteKubeconfig(t),
		cli:          exec.Command(bin, "cluster", "add", "--help").Run() == nil}
	t.Logf("journey commands in the binary: %v", j.cli)
	run(t, "", "git", "init", "-q", "--bare", "-b", "main", j.remote)
	j.backend = startProcess(t, "backend", bin, "backend", "--kubeconfig", j.cpKubeconfig,
		"--repo", "file://"+j.remote, "--data-dir", filepath.Join(dir, "backend"), "--interval", "1s",
		"--leader-elect=false", "--metrics-bind-address", "0", "--health-probe-bind-address", "0")
	return j
}

// clusterAdd onboards the app cluster: the AppCluster, then its namespace,
// which the backend creates.
func (j *journey) clusterAdd() {
	if j.cli {
		j.agentKubeconfig = filepath.Join(j.dir, cluster+".kubeconfig")
		run(j.t, j.dir, j.bin, "cluster", "add", cluster, "--kubeconfig", j.cpKubeconfig, "-o", j.agentKubeconfig)
		require.FileExists(j.t, j.agentKubeconfig)
	} else {
		j.create(j.cp, &v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: cluster}})
	}
	j.eventually("the backend created namespace "+j.clusterNS, func() (bool, string) {
		err := j.cp.Client.Get(j.ctx, client.ObjectKey{Name: j.clusterNS}, &corev1.Namespace{})
		return err == nil, fmt.Sprint(err)
	})
}

// bind requests the template for the cluster and binds its CRD in the app
// cluster, and checks that every side agrees on the revision and schema.
func (j *journey) bind() {
	t := j.t
	if j.cli {
		run(t, j.dir, j.bin, "bind", template, "--kubeconfig", j.app.WriteKubeconfig(t),
			"--control-plane-kubeconfig", j.agentKubeconfig, "--timeout", waitLimit.String())
	} else {
		j.create(j.cp, &v1alpha1.APIServiceExportRequest{ObjectMeta: metav1.ObjectMeta{Name: request, Namespace: j.clusterNS},
			Spec: v1alpha1.APIServiceExportRequestSpec{TemplateRef: v1alpha1.TemplateReference{Name: template}}})
	}
	j.eventually("the request is Ready", func() (bool, string) {
		c := condition(j.request().Status.Conditions, v1alpha1.ReadyCondition)
		return c.Status == metav1.ConditionTrue, c.Reason + ": " + c.Message
	})
	q := j.request()
	assert.Equal(t, "main@sha1:"+j.head("main"), q.Status.Revision)
	assert.Equal(t, "bind: "+cluster+" <- "+template, j.subjects()[0])
	trailers := run(t, "", "git", "--git-dir", j.remote, "log", "-1", "--format=%(trailers)", "main")
	assert.Contains(t, trailers, "Bindsync-Request-UID: "+string(q.UID))
	require.Len(t, q.Status.Exports, 1)

	if !j.cli {
		j.create(j.app, &v1alpha1.APIServiceBinding{ObjectMeta: metav1.ObjectMeta{Name: pgCRD}})
	}
	j.waitInSync("the binding is Ready")
	b := j.binding()
	assert.Equal(t, q.Status.Exports[0].SchemaHash, b.Status.BoundSchemaHash, "the app cluster has the schema main holds")
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(t, j.app.Client.Get(j.ctx, client.ObjectKey{Name: pgCRD}, &crd))
	assert.Equal(t, "true", crd.Labels[v1alpha1.ManagedLabel])
	assert.Equal(t, cluster, crd.Labels[v1alpha1.ClusterLabel])
}

// approve merges a held branch into main with git, as a human would without
// a forge, and pushes it.
func (j *journey) approve(branch string) {
	if j.cli {
		run(j.t, j.dir, j.bin, "approve", branch, "--repo", j.remote, "--approver", "Platform Operator <operator@example.com>")
		return
	}
	work := filepath.Join(j.dir, "approve")
	run(j.t, "", "git", "clone", "-q", j.remote, work)
	run(j.t, work, "git", "merge", "-q", "--no-ff", "-m", "approve "+branch, "origin/"+branch)
	run(j.t, work, "git", "push", "-q", "origin", "main")
}

// createInstance creates a PostgresqlInstance in the app cluster.
func (j *journey) createInstance(name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "anynines.com/v1", "kind": "PostgresqlInstance",
		"metadata": map[string]any{"name": name, "namespace": "default"},
		"spec": map[string]any{"service": "a9s-postgresql15", "plan": "postgresql-single-small",
			"compositionRef": map[string]any{"name": "a9s-postgresql"}, "expose": "Internal"},
	}}
	require.NoError(j.t, j.app.Client.Create(j.ctx, u))
	return u
}

func (j *journey) instanceExists(u *unstructured.Unstructured) bool {
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(u.GroupVersionKind())
	err := j.app.Client.Get(j.ctx, client.ObjectKeyFromObject(u), got)
	return err == nil && got.GetUID() == u.GetUID()
}

// patchCRD changes the provider's CRD on the control plane (a JSON patch).
func (j *journey) patchCRD(patch string) {
	crd := &apiextensionsv1.CustomResourceDefinition{ObjectMeta: metav1.ObjectMeta{Name: pgCRD}}
	require.NoError(j.t, j.cp.Client.Patch(j.ctx, crd, client.RawPatch(types.JSONPatchType, []byte(patch))))
}

// waitInSync waits until the binding is Ready at main's head.
func (j *journey) waitInSync(what string) {
	j.eventually(what, func() (bool, string) {
		b := j.binding()
		c := condition(b.Status.Conditions, v1alpha1.ReadyCondition)
		head := j.head("main")
		return c.Status == metav1.ConditionTrue && b.Status.LastAppliedRevision == "main@sha1:"+head,
			fmt.Sprintf("%s %s: %s at %s, main is %s", c.Status, c.Reason, c.Message, b.Status.LastAppliedRevision, head)
	})
}

// waitMainSubject waits until a commit main did not have before starts with
// prefix and ends with suffix. It need not be the head: the agent syncs the
// journey's instance, so a "namespace: ..." commit may land after it.
func (j *journey) waitMainSubject(prefix, suffix string) {
	seen := len(j.subjects())
	j.eventually("a new commit on main is "+prefix+"... "+suffix, func() (bool, string) {
		s := j.subjects()
		for _, subj := range s[:max(len(s)-seen, 0)] {
			if strings.HasPrefix(subj, prefix) && strings.HasSuffix(subj, suffix) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%q", s)
	})
}

func (j *journey) appHasField(name string) bool {
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(j.t, j.app.Client.Get(j.ctx, client.ObjectKey{Name: pgCRD}, &crd))
	_, ok := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties[name]
	return ok
}

func (j *journey) appExposeValues() []string {
	var crd apiextensionsv1.CustomResourceDefinition
	require.NoError(j.t, j.app.Client.Get(j.ctx, client.ObjectKey{Name: pgCRD}, &crd))
	var out []string
	for _, v := range crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["expose"].Enum {
		out = append(out, strings.Trim(string(v.Raw), `"`))
	}
	return out
}

// head returns the remote's commit of branch, "" when there is none (or the
// remote is away).
func (j *journey) head(branch string) string {
	out, err := gitOutput(j.remote, "rev-parse", "--verify", "-q", "refs/heads/"+branch)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// branch returns the first branch of the remote whose name starts with prefix.
func (j *journey) branch(prefix string) string {
	out, _ := gitOutput(j.remote, "for-each-ref", "--format=%(refname:short)", "refs/heads/"+strings.TrimSuffix(prefix, "/"))
	for _, b := range strings.Fields(out) {
		if strings.HasPrefix(b, prefix) {
			return b
		}
	}
	return ""
}

// subjects returns main's first-parent subjects, newest first.
func (j *journey) subjects() []string {
	out, err := gitOutput(j.remote, "log", "--first-parent", "--format=%s", "main")
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(out), "\n")
}

func (j *journey) request() *v1alpha1.APIServiceExportRequest {
	var q v1alpha1.APIServiceExportRequest
	require.NoError(j.t, j.cp.Client.Get(j.ctx, client.ObjectKey{Namespace: j.clusterNS, Name: request}, &q))
	return &q
}

func (j *journey) template() *v1alpha1.APIServiceExportTemplate {
	var tpl v1alpha1.APIServiceExportTemplate
	require.NoError(j.t, j.cp.Client.Get(j.ctx, client.ObjectKey{Name: template}, &tpl))
	return &tpl
}

func (j *journey) binding() *v1alpha1.APIServiceBinding {
	var b v1alpha1.APIServiceBinding
	require.NoError(j.t, j.app.Client.Get(j.ctx, client.ObjectKey{Name: pgCRD}, &b))
	return &b
}

func (j *journey) create(c *testenv.Cluster, obj client.Object) {
	require.NoError(j.t, c.Client.Create(j.ctx, obj), "create %T %s", obj, obj.GetName())
}

// eventually polls check until it holds; on timeout it fails with check's
// last word and says which bindsync process had stopped.
func (j *journey) eventually(what string, check func() (bool, string)) {
	j.t.Helper()
	var last string
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = check(); ok {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	var down []string
	for _, p := range []*process{j.backend, j.agent} {
		if p != nil && !p.running() {
			down = append(down, p.name)
		}
	}
	j.t.Fatalf("timed out after %s waiting until %s; last: %s; processes not running: %v", waitLimit, what, last, down)
}

func condition(conds []metav1.Condition, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(conds, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}
