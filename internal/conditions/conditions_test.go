package conditions_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/bindsync/bindsync/internal/conditions"
	_ "github.com/bindsync/bindsync/internal/testutil/golden"
)

func TestSet(t *testing.T) {
	long := metav1.NewTime(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC))
	old := func(status metav1.ConditionStatus) []metav1.Condition {
		return []metav1.Condition{{Type: "Ready", Status: status, Reason: "Old", Message: "before",
			ObservedGeneration: 1, LastTransitionTime: long}}
	}
	tests := []struct {
		name       string
		conds      []metav1.Condition
		ok         bool
		transition bool // lastTransitionTime moves
	}{
		{"a new condition gets a transition time", nil, true, true},
		{"same status, new reason keeps the transition time", old(metav1.ConditionTrue), true, false},
		{"same False status keeps the transition time", old(metav1.ConditionFalse), false, false},
		{"True to False is a transition", old(metav1.ConditionTrue), false, true},
		{"False to True is a transition", old(metav1.ConditionFalse), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conds := tt.conds
			conditions.Set(&conds, "Ready", tt.ok, "New", "after", 7)
			c := meta.FindStatusCondition(conds, "Ready")
			require.NotNil(t, c)
			assert.Len(t, conds, 1)
			assert.Equal(t, conditions.Status(tt.ok), c.Status)
			assert.Equal(t, "New", c.Reason)
			assert.Equal(t, "after", c.Message)
			assert.Equal(t, int64(7), c.ObservedGeneration)
			if tt.transition {
				assert.NotEqual(t, long, c.LastTransitionTime)
				assert.False(t, c.LastTransitionTime.IsZero())
			} else {
				assert.Equal(t, long, c.LastTransitionTime)
			}
		})
	}
}

func TestMarkTrueFalse(t *testing.T) {
	var conds []metav1.Condition
	conditions.MarkTrue(&conds, "Approved", "Succeeded", "approved", 2)
	conditions.MarkFalse(&conds, "Ready", "Progressing", "waiting", 2)
	assert.True(t, meta.IsStatusConditionTrue(conds, "Approved"))
	assert.True(t, meta.IsStatusConditionFalse(conds, "Ready"))
	assert.Equal(t, "Progressing", meta.FindStatusCondition(conds, "Ready").Reason)
}
