package status

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/cli/kube"

	_ "github.com/bindsync/bindsync/internal/testutil/golden" // accepts -update like every test package
)

const hash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func export(gen int64, conds ...metav1.Condition) v1alpha1.APIServiceExport {
	e := v1alpha1.APIServiceExport{ObjectMeta: metav1.ObjectMeta{Name: "pg.example.com", Namespace: "bindsync-team-a", Generation: gen}}
	e.Spec.SchemaHash = hash
	e.Spec.TemplateRef.Name = "pg"
	e.Status.Conditions = conds
	return e
}

var since = metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))

func inSync(status metav1.ConditionStatus, gen int64, msg string) metav1.Condition {
	return metav1.Condition{Type: v1alpha1.ConsumerInSyncCondition, Status: status, ObservedGeneration: gen,
		Reason: v1alpha1.SucceededReason, Message: msg, LastTransitionTime: since}
}

func TestRowOfAnExport(t *testing.T) {
	for name, tc := range map[string]struct {
		e                v1alpha1.APIServiceExport
		state, agentHash string
	}{
		"no report":                    {e: export(1), state: StateNotReported},
		"applied main's schema":        {e: export(1, inSync(metav1.ConditionTrue, 1, "applied at main@sha1:aa, schema 0123456789ab")), state: StateInSync, agentHash: "0123456789ab"},
		"applied an older generation":  {e: export(2, inSync(metav1.ConditionTrue, 1, "applied at main@sha1:aa, schema 0123456789ab")), state: StateNotInSync, agentHash: "0123456789ab"},
		"applied another schema":       {e: export(1, inSync(metav1.ConditionTrue, 1, "applied at main@sha1:aa, schema ffffffffffff")), state: StateNotInSync, agentHash: "ffffffffffff"},
		"the agent could not apply it": {e: export(1, inSync(metav1.ConditionFalse, 1, "CRD not established")), state: StateNotInSync},
	} {
		t.Run(name, func(t *testing.T) {
			r := RowOf(&tc.e)
			assert.Equal(t, "team-a", r.Cluster)
			assert.Equal(t, hash, r.MainSchema)
			assert.Equal(t, tc.state, r.State)
			assert.Equal(t, tc.state == StateInSync, r.InSync)
			assert.Equal(t, tc.agentHash, r.AgentSchema)
			if tc.state != StateNotReported {
				require.NotNil(t, r.Since)
				assert.Equal(t, since.Time, r.Since.Time)
			}
		})
	}
}

func TestPrintTable(t *testing.T) {
	rows := Rows([]v1alpha1.APIServiceExport{export(1, inSync(metav1.ConditionTrue, 1, "applied at main@sha1:aa, schema 0123456789ab"))})
	var b bytes.Buffer
	require.NoError(t, PrintTable(&b, rows, since.Add(90*time.Second)))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, []string{"CLUSTER", "EXPORT", "TEMPLATE", "MAIN", "SCHEMA", "AGENT", "SCHEMA", "STATE", "SINCE", "REASON", "SYNCED", "FAILED"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{"team-a", "pg.example.com", "pg", "0123456789ab", "0123456789ab", "InSync", "1m30s", "Succeeded", "-", "-"}, strings.Fields(lines[1]),
		"no instance counts reported: dashes")
}

// TestWideAndNameOutput: -o wide is the table with the agent's revision and
// the message at the end; -o name names each row's object as kubectl does.
func TestWideAndNameOutput(t *testing.T) {
	e := export(1, inSync(metav1.ConditionTrue, 1, "applied at main@sha1:aa, schema 0123456789ab"))
	e.Status.ConsumerRevision = "main@sha1:aa"
	q := v1alpha1.APIServiceExportRequest{ObjectMeta: metav1.ObjectMeta{Name: "pg-b", Namespace: "bindsync-team-a", Generation: 1}}
	rows := Rows([]v1alpha1.APIServiceExport{e}, q)
	var w bytes.Buffer
	require.NoError(t, PrintWide(&w, rows, since.Add(90*time.Second)))
	lines := strings.Split(strings.TrimSpace(w.String()), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, []string{"CLUSTER", "EXPORT", "TEMPLATE", "MAIN", "SCHEMA", "AGENT", "SCHEMA", "STATE", "SINCE", "REASON", "SYNCED", "FAILED", "AGENT", "REVISION", "MESSAGE"}, strings.Fields(lines[0]))
	assert.Equal(t, []string{"team-a", "pg.example.com", "pg", "0123456789ab", "0123456789ab", "InSync", "1m30s", "Succeeded", "-", "-", "main@sha1:aa",
		"applied", "at", "main@sha1:aa,", "schema", "0123456789ab"}, strings.Fields(lines[1]))

	var n bytes.Buffer
	require.NoError(t, printNames(&n, rows))
	assert.Equal(t, "apiserviceexport.bindsync.io/pg.example.com\napiserviceexportrequest.bindsync.io/pg-b\n", n.String())
}

// TestInstanceCounts: the instance counts the agent reports on an export
// are shown in the last two columns (older columns keep their places for
// scripts) and in json as instances.
func TestInstanceCounts(t *testing.T) {
	e := export(1, inSync(metav1.ConditionTrue, 1, "applied at main@sha1:aa, schema 0123456789ab"))
	e.Status.Instances = &v1alpha1.InstanceCounts{Synced: 38, Failed: 2, Restored: 1}
	rows := Rows([]v1alpha1.APIServiceExport{e})
	require.Len(t, rows, 1)
	assert.Equal(t, &v1alpha1.InstanceCounts{Synced: 38, Failed: 2, Restored: 1}, rows[0].Instances)

	var b bytes.Buffer
	require.NoError(t, PrintTable(&b, rows, since.Add(90*time.Second)))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, []string{"team-a", "pg.example.com", "pg", "0123456789ab", "0123456789ab", "InSync", "1m30s", "Succeeded", "38", "2"}, strings.Fields(lines[1]))

	b.Reset()
	require.NoError(t, kube.Print(&b, "json", rows))
	assert.Contains(t, b.String(), `"instances": {`)
	assert.Contains(t, b.String(), `"synced": 38`)
	assert.Contains(t, b.String(), `"failed": 2`)
}

func request(name string, conds ...metav1.Condition) v1alpha1.APIServiceExportRequest {
	q := v1alpha1.APIServiceExportRequest{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bindsync-team-b", Generation: 1}}
	q.Spec.TemplateRef.Name = "pg"
	q.Status.Conditions = conds
	return q
}

// A cluster whose folder the backend could not apply has no export at all:
// its requests are listed with their reason, never left out; Ready ones are
// not listed (their exports are).
func TestRequestsThatAreNotReadyAreListed(t *testing.T) {
	failed := metav1.Condition{Type: v1alpha1.ReadyCondition, Status: metav1.ConditionFalse, ObservedGeneration: 1,
		Reason: v1alpha1.ApplyFailedReason, Message: "apply clusters/team-b/control-plane: Namespace bindsync-team-b: exists", LastTransitionTime: since}
	ready := metav1.Condition{Type: v1alpha1.ReadyCondition, Status: metav1.ConditionTrue, ObservedGeneration: 1,
		Reason: v1alpha1.SucceededReason, LastTransitionTime: since}
	rows := Rows([]v1alpha1.APIServiceExport{export(1, inSync(metav1.ConditionTrue, 1, "applied at main@sha1:aa, schema 0123456789ab"))},
		request("broken", failed), request("fine", ready), request("new"))

	require.Len(t, rows, 3)
	assert.Equal(t, "team-a", rows[0].Cluster)
	assert.Equal(t, Row{Cluster: "team-b", Request: "broken", Template: "pg", State: StateRequestNotReady,
		Reason: v1alpha1.ApplyFailedReason, Message: failed.Message, Since: &since}, rows[1])
	assert.Equal(t, "new", rows[2].Request)
	assert.Equal(t, "Pending", rows[2].Reason, "a request the backend has not written status on yet")
	assert.False(t, rows[1].InSync, "--check fails on it")

	var b bytes.Buffer
	require.NoError(t, PrintTable(&b, rows, since.Add(time.Minute)))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 4)
	assert.Equal(t, []string{"team-b", "request/broken", "pg", "-", "-", "RequestNotReady", "1m0s", "ApplyFailed", "-", "-"}, strings.Fields(lines[2]))
}
