package agent

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/api/v1alpha1"
)

func TestNextStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ready := func(hash, rev string, history int) v1alpha1.APIServiceBindingStatus {
		st := v1alpha1.APIServiceBindingStatus{}
		for i := range history {
			st.History = append(st.History, v1alpha1.BindingHistoryEntry{Revision: fmt.Sprint("old", i), SchemaHash: fmt.Sprint("h", i)})
		}
		nextStatus(&st, 1, rev, &outcome{crdName: "a.b", hash: hash}, now)
		st.History = st.History[:min(len(st.History), max(history, 1))]
		return st
	}
	tests := []struct {
		name        string
		before      v1alpha1.APIServiceBindingStatus
		rev         string
		outcome     outcome
		ready       metav1.ConditionStatus
		inSync      metav1.ConditionStatus
		extra       string // Stalled or Reconciling, "" for neither
		history     int
		lastApplied string
	}{
		{name: "first success records the revision and one history entry", rev: "main@sha1:1",
			outcome: outcome{crdName: "a.b", hash: "h1"}, ready: "True", inSync: "True", history: 1, lastApplied: "main@sha1:1"},
		{name: "same schema at a new revision does not grow the history", before: ready("h1", "main@sha1:1", 1), rev: "main@sha1:2",
			outcome: outcome{crdName: "a.b", hash: "h1"}, ready: "True", inSync: "True", history: 1, lastApplied: "main@sha1:2"},
		{name: "a schema change grows the history, capped at 5", before: ready("h0", "main@sha1:1", 5), rev: "main@sha1:2",
			outcome: outcome{crdName: "a.b", hash: "h9"}, ready: "True", inSync: "True", history: 5, lastApplied: "main@sha1:2"},
		{name: "a foreign CRD stalls", rev: "main@sha1:1", outcome: outcome{reason: v1alpha1.ForeignCRDReason, message: "m"},
			ready: "False", inSync: "False", extra: v1alpha1.StalledCondition},
		{name: "a CRD not yet Established is reconciling", rev: "main@sha1:1", outcome: outcome{reason: v1alpha1.CRDNotEstablishedReason, message: "m"},
			ready: "False", inSync: "False", extra: v1alpha1.ReconcilingCondition},
		{name: "an unavailable source keeps SchemaInSync and the applied revision", before: ready("h1", "main@sha1:1", 1),
			outcome: outcome{reason: v1alpha1.SourceUnavailableReason, message: "m"}, ready: "False", inSync: "True", history: 1, lastApplied: "main@sha1:1",
			extra: v1alpha1.ReconcilingCondition},
		{name: "an unavailable source with no earlier status leaves SchemaInSync unknown",
			outcome: outcome{reason: v1alpha1.SourceUnavailableReason, message: "m"}, ready: "False", inSync: "Unknown", extra: v1alpha1.ReconcilingCondition},
		{name: "a missing export is reconciling: it arrives once the backend renders it", before: ready("h1", "main@sha1:1", 1), rev: "main@sha1:2",
			outcome: outcome{reason: v1alpha1.ExportNotFoundReason, message: "m"}, ready: "False", inSync: "False", history: 1, lastApplied: "main@sha1:1",
			extra: v1alpha1.ReconcilingCondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := tt.before.DeepCopy()
			nextStatus(st, 7, tt.rev, &tt.outcome, now)
			assert.Equal(t, int64(7), st.ObservedGeneration)
			r := meta.FindStatusCondition(st.Conditions, v1alpha1.ReadyCondition)
			require.NotNil(t, r)
			assert.Equal(t, tt.ready, r.Status)
			assert.Equal(t, int64(7), r.ObservedGeneration)
			assert.Equal(t, tt.inSync, meta.FindStatusCondition(st.Conditions, v1alpha1.SchemaInSyncCondition).Status)
			for _, typ := range []string{v1alpha1.StalledCondition, v1alpha1.ReconcilingCondition} {
				c := meta.FindStatusCondition(st.Conditions, typ)
				if typ == tt.extra {
					require.NotNil(t, c, typ)
					assert.Equal(t, metav1.ConditionTrue, c.Status)
				} else {
					assert.Nil(t, c, "%s only while true", typ)
				}
			}
			assert.Len(t, st.History, tt.history)
			assert.Equal(t, tt.lastApplied, st.LastAppliedRevision)
			if tt.rev != "" {
				assert.Equal(t, tt.rev, st.LastAttemptedRevision)
			}
		})
	}
}
