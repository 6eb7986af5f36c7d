package scalefixture_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/render"
	_ "github.com/bindsync/bindsync/internal/testutil/golden"
	"github.com/bindsync/bindsync/internal/testutil/scalefixture"
)

func TestInput(t *testing.T) {
	in := scalefixture.Input(t, 3, 2)
	require.Len(t, in.Templates, 2)
	assert.Len(t, in.Clusters, 3)
	assert.Len(t, in.Requests, 6)
	assert.Equal(t, "cluster-0002", in.Clusters[2].Name)
	q := in.Requests[5]
	assert.Equal(t, v1alpha1.ClusterNamespace("cluster-0002"), q.Namespace)
	assert.Equal(t, in.Templates[1].Name, q.Spec.TemplateRef.Name)
	assert.NotEmpty(t, q.UID)
	out := render.Render(in)
	assert.Empty(t, out.Problems, "the fixture renders cleanly")
}
