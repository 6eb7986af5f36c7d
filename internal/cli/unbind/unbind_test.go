package unbind

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/bindsync/bindsync/api/v1alpha1"

	_ "github.com/bindsync/bindsync/internal/testutil/golden" // accepts -update like every test package
)

func TestPolicySaysWhatHappensToTheCRD(t *testing.T) {
	for policy, want := range map[v1alpha1.DeletionPolicy]string{
		v1alpha1.DeletionOrphan: "CRD x.example.com and its objects stay in the app cluster",
		"":                      "CRD x.example.com and its objects stay in the app cluster",
		v1alpha1.DeletionDelete: "the agent deletes CRD x.example.com if no objects of it are left",
	} {
		assert.Contains(t, Policy("x.example.com", policy), want, string(policy))
	}
}
