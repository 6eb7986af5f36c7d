package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testenv"
)

// scrape reads the Prometheus text exposition at url: sample (name with
// its labels, as written) -> value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		out[line[:i]] = v
	}
	require.NoError(t, sc.Err())
	return out
}

// backendEvent is one Kubernetes event the backend recorded.
// Count is how often it was recorded (events of one object, type, reason,
// action and note form a series).
// Last is when it was last recorded.
type backendEvent struct {
	Kind, Namespace, Name, Type, Reason, Action, Note string
	Count                                             int32
	Last                                              time.Time
}

func (e backendEvent) String() string {
	return fmt.Sprintf("%s %s/%s %s %s %s (x%d): %s", e.Kind, e.Namespace, e.Name, e.Type, e.Action, e.Reason, e.Count, e.Note)
}

// backendEvents lists the events.k8s.io events bindsync-backend recorded.
func backendEvents(t *testing.T, cp *testenv.Cluster) []backendEvent {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cp.Config)
	require.NoError(t, err)
	list, err := cs.EventsV1().Events("").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	var out []backendEvent
	for _, ev := range list.Items {
		if ev.ReportingController != "bindsync-backend" {
			continue
		}
		be := backendEvent{Kind: ev.Regarding.Kind, Namespace: ev.Regarding.Namespace, Name: ev.Regarding.Name,
			Type: ev.Type, Reason: ev.Reason, Action: ev.Action, Note: ev.Note, Count: 1, Last: ev.EventTime.Time}
		if ev.Series != nil {
			be.Count = ev.Series.Count
			if ev.Series.LastObservedTime.After(be.Last) {
				be.Last = ev.Series.LastObservedTime.Time
			}
		}
		out = append(out, be)
	}
	return out
}

// hasEvent reports whether events holds one on the object with type and
// reason, whose action names action (one event per object and reconcile
// lists every condition that changed: "Approved,Ready"), and whose note
// contains note.
func hasEvent(events []backendEvent, kind, namespace, name, typ, reason, action, note string) bool {
	return !lastEvent(events, kind, namespace, name, typ, reason, action, note).IsZero()
}

// lastEvent is when such an event was last recorded (zero: never). A repeat
// may be written as a new Event object or as the series of an earlier one.
func lastEvent(events []backendEvent, kind, namespace, name, typ, reason, action, note string) time.Time {
	var last time.Time
	for _, e := range events {
		if e.Kind == kind && e.Namespace == namespace && e.Name == name && e.Type == typ && e.Reason == reason &&
			slices.Contains(strings.Split(e.Action, ","), action) && strings.Contains(e.Note, note) && e.Last.After(last) {
			last = e.Last
		}
	}
	return last
}

// TestIntegrationBackendEventsAndMetrics runs `bindsync backend` with its
// metrics endpoint on and checks, through a bind, a Manual request and a
// breaking CRD change, the Kubernetes events it records on requests and
// templates and the values its metrics endpoint serves.
func TestIntegrationBackendEventsAndMetrics(t *testing.T) {
	cp := startBackendControlPlane(t)
	dataDir := t.TempDir() + "/data"
	addr := freeAddr(t)
	metricsURL := "http://" + addr + "/metrics"
	logs := backendCommand(t, cp, dataDir, "--metrics-bind-address", addr, "--interval", "1s")
	e := &backendEnv{t: t, cp: cp, remote: dataDir}
	const wait, tick = 30 * time.Second, 200 * time.Millisecond

	var m map[string]float64
	require.Eventually(t, func() bool {
		resp, err := http.Get(metricsURL)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, wait, tick, "the metrics endpoint serves; logs:\n%s", logs)

	e.create(&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "obs"}})
	e.template("pg-obs", "postgresqlinstances", v1alpha1.ApprovalAutomatic)
	e.template("pg-obs-manual", "postgresqlinstances", v1alpha1.ApprovalManual)
	e.create(&v1alpha1.AppCluster{ObjectMeta: metav1.ObjectMeta{Name: "obs-m"}})
	ns := v1alpha1.ClusterNamespace("obs")
	require.Eventually(t, func() bool {
		return e.exists(&corev1.Namespace{}, "", ns) && e.exists(&corev1.Namespace{}, "", v1alpha1.ClusterNamespace("obs-m"))
	}, wait, tick, "the clusters' folders are committed and applied; logs:\n%s", logs)
	// Let the reconcile that applied them finish before the baseline.
	require.Eventually(t, func() bool {
		m = scrape(t, metricsURL)
		return m["bindsync_backend_reconcile_duration_seconds_count"] > 0
	}, wait, tick)
	before := scrape(t, metricsURL)
	mainBefore := e.head("main")

	t.Run("a bind: one commit, one push, reconciles timed, Normal events on the request", func(t *testing.T) {
		e.request("obs", "pg", "pg-obs")
		require.Eventually(t, func() bool {
			return requestCondition(e.getRequest("obs", "pg"), v1alpha1.ReadyCondition).Status == metav1.ConditionTrue
		}, wait, tick, "request Ready; logs:\n%s", logs)
		head := e.head("main")
		require.Equal(t, mainBefore, strings.TrimSpace(runGit(t, "", "--git-dir", dataDir, "rev-parse", "main^")), "one commit on main")
		require.Eventually(t, func() bool {
			m = scrape(t, metricsURL)
			return m["bindsync_backend_pushes_total"] > before["bindsync_backend_pushes_total"]
		}, wait, tick)
		assert.Equal(t, 1.0, m["bindsync_backend_commits_total"]-before["bindsync_backend_commits_total"], "commits_total counts the bind")
		assert.Equal(t, 1.0, m["bindsync_backend_pushes_total"]-before["bindsync_backend_pushes_total"], "pushes_total counts the push of main")
		assert.Equal(t, 0.0, m["bindsync_backend_push_retries_total"]-before["bindsync_backend_push_retries_total"], "no race, no retry")
		assert.Greater(t, m["bindsync_backend_reconcile_duration_seconds_count"], before["bindsync_backend_reconcile_duration_seconds_count"])
		assert.Greater(t, m["bindsync_backend_reconcile_duration_seconds_sum"], 0.0)
		assert.Equal(t, 0.0, m["bindsync_backend_pending_approvals"])
		assert.Equal(t, 0.0, m["bindsync_backend_breaking_changes_held"])
		// controller-runtime's own metrics are served next to bindsync's
		assert.Contains(t, m, `controller_runtime_reconcile_total{controller="bindsync-backend",result="success"}`)

		require.Eventually(t, func() bool {
			evs := backendEvents(t, cp)
			return hasEvent(evs, "APIServiceExportRequest", ns, "pg", "Normal", v1alpha1.SucceededReason, v1alpha1.ReadyCondition, "applied at main@sha1:"+head) &&
				hasEvent(evs, "APIServiceExportRequest", ns, "pg", "Normal", v1alpha1.SucceededReason, v1alpha1.ApprovedCondition, "Automatic")
		}, wait, tick, "Approved and Ready events on the request; events:\n%v", backendEvents(t, cp))
	})

	t.Run("a Manual request: pending_approvals counts it, a Warning names the branch; deleting the branch rejects it", func(t *testing.T) {
		mns := v1alpha1.ClusterNamespace("obs-m")
		e.request("obs-m", "pg", "pg-obs-manual")
		branch := staterepo.ApproveBranch("obs-m", "pg")
		require.Eventually(t, func() bool { return scrape(t, metricsURL)["bindsync_backend_pending_approvals"] == 1 }, wait, tick,
			"pending_approvals is 1; logs:\n%s", logs)
		require.NotEmpty(t, e.head(branch))
		require.Eventually(t, func() bool {
			return hasEvent(backendEvents(t, cp), "APIServiceExportRequest", mns, "pg", "Warning", v1alpha1.PendingApprovalReason, v1alpha1.ApprovedCondition, branch)
		}, wait, tick, "events:\n%v", backendEvents(t, cp))

		runGit(t, "", "--git-dir", dataDir, "branch", "-D", branch)
		require.Eventually(t, func() bool { return scrape(t, metricsURL)["bindsync_backend_pending_approvals"] == 0 }, wait, tick,
			"a rejected request is no longer pending; logs:\n%s", logs)
		require.Eventually(t, func() bool {
			return hasEvent(backendEvents(t, cp), "APIServiceExportRequest", mns, "pg", "Warning", v1alpha1.RejectedReason, v1alpha1.ApprovedCondition, branch)
		}, wait, tick, "events:\n%v", backendEvents(t, cp))
	})

	t.Run("a breaking CRD change: breaking_changes_held counts it, a Warning on the template; undone, it is not held", func(t *testing.T) {
		var expose apiextensionsv1.JSONSchemaProps
		editCRD(t, cp.Client, func(spec *apiextensionsv1.JSONSchemaProps) {
			expose = spec.Properties["expose"]
			delete(spec.Properties, "expose")
		})
		require.Eventually(t, func() bool { return scrape(t, metricsURL)["bindsync_backend_breaking_changes_held"] == 1 }, wait, tick,
			"breaking_changes_held is 1; logs:\n%s", logs)
		require.Eventually(t, func() bool {
			return hasEvent(backendEvents(t, cp), "APIServiceExportTemplate", "", "pg-obs", "Warning", v1alpha1.SchemaBreakingReason, v1alpha1.ReadyCondition, ".spec.expose")
		}, wait, tick, "events:\n%v", backendEvents(t, cp))

		undone := time.Now().Truncate(time.Microsecond)
		editCRD(t, cp.Client, func(spec *apiextensionsv1.JSONSchemaProps) { spec.Properties["expose"] = expose })
		require.Eventually(t, func() bool { return scrape(t, metricsURL)["bindsync_backend_breaking_changes_held"] == 0 }, wait, tick,
			"the CRD is back to what main holds; logs:\n%s", logs)
		require.EventuallyWithT(t, func(c *assert.CollectT) {
			evs := backendEvents(t, cp)
			last := lastEvent(evs, "APIServiceExportTemplate", "", "pg-obs", "Normal", v1alpha1.SucceededReason, v1alpha1.ReadyCondition, "rendered")
			assert.False(c, last.Before(undone), "Ready again: a Normal event recorded after the undo (last %s, undone %s); events:\n%v", last, undone, evs)
		}, wait, tick)
		var tpl v1alpha1.APIServiceExportTemplate
		require.NoError(t, cp.Client.Get(context.Background(), client.ObjectKey{Name: "pg-obs"}, &tpl))
		assert.Equal(t, metav1.ConditionTrue, templateCondition(&tpl, v1alpha1.ReadyCondition).Status)
	})
}
