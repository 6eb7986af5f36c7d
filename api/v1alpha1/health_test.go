package v1alpha1_test

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

// TestEveryReasonHasAHealth: every reason of conditions.go is classified
// as Reconciling (resolves by itself) or Stalled (needs a human), and
// docs/conditions.md's "Health" table says the same for each.
func TestEveryReasonHasAHealth(t *testing.T) {
	consts := conditionConstants(t, "conditions.go")
	documented := healthTable(t, filepath.Join("..", "..", "docs", "conditions.md"))
	var reasons []string
	for name, value := range consts {
		if strings.HasSuffix(name, "Reason") && value != v1alpha1.SucceededReason {
			reasons = append(reasons, value)
		}
	}
	sort.Strings(reasons)
	require.NotEmpty(t, reasons)
	for _, r := range reasons {
		typ, ok := v1alpha1.HealthCondition(r)
		assert.True(t, ok, "reason %s is neither Reconciling nor Stalled in api/v1alpha1/health.go", r)
		assert.Equal(t, typ, documented[r], "docs/conditions.md's Health table for reason %s", r)
	}
}

// healthTable reads "| `Reason` | Reconciling or Stalled | ..." rows under "## Health".
func healthTable(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	row := regexp.MustCompile("^\\|\\s*`([A-Za-z]+)`\\s*\\|\\s*`?(Reconciling|Stalled)`?\\s*\\|")
	out, in := map[string]string{}, false
	for _, line := range strings.Split(string(data), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			in = strings.TrimSpace(h) == "Health"
			continue
		}
		if m := row.FindStringSubmatch(line); in && m != nil {
			out[m[1]] = m[2]
		}
	}
	require.NotEmpty(t, out, "docs/conditions.md has a ## Health table")
	return out
}

// TestSetHealthConditions: Ready True clears both; a stalling reason sets
// Stalled only, a transient one Reconciling only, with Ready's reason and
// message; an unchanged state keeps its lastTransitionTime.
func TestSetHealthConditions(t *testing.T) {
	ready := func(status metav1.ConditionStatus, reason string) []metav1.Condition {
		return []metav1.Condition{{Type: v1alpha1.ReadyCondition, Status: status, Reason: reason, Message: "m " + reason}}
	}
	conds := ready(metav1.ConditionFalse, v1alpha1.PendingApprovalReason)
	v1alpha1.SetHealthConditions(&conds, 3)
	require.Len(t, conds, 2)
	assert.Equal(t, metav1.Condition{Type: v1alpha1.StalledCondition, Status: metav1.ConditionTrue, Reason: v1alpha1.PendingApprovalReason,
		Message: "m PendingApproval", ObservedGeneration: 3, LastTransitionTime: conds[1].LastTransitionTime}, conds[1])
	stamp := metav1.Unix(1, 0)
	conds[1].LastTransitionTime = stamp
	v1alpha1.SetHealthConditions(&conds, 3)
	assert.Equal(t, stamp, conds[1].LastTransitionTime, "an unchanged condition keeps its time")

	conds[0].Reason = v1alpha1.GitUnavailableReason
	v1alpha1.SetHealthConditions(&conds, 3)
	require.Len(t, conds, 2)
	assert.Equal(t, v1alpha1.ReconcilingCondition, conds[1].Type)
	assert.Equal(t, v1alpha1.GitUnavailableReason, conds[1].Reason)

	conds[0].Status = metav1.ConditionTrue
	v1alpha1.SetHealthConditions(&conds, 3)
	assert.Len(t, conds, 1, "Ready True: neither Reconciling nor Stalled")
}
