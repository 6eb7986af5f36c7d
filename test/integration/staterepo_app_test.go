package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/internal/kustomize"
	"github.com/bindsync/bindsync/internal/testenv"
)

// TestIntegrationStateRepoAppCRDsEstablish builds every clusters/<c>/app
// folder of the example state repository as the agent does and applies the
// result to a real app cluster: each CRD must be accepted and Established.
func TestIntegrationStateRepoAppCRDsEstablish(t *testing.T) {
	t.Parallel()
	_, app := testenv.SharedPair(t)
	ctx := testContext(t)

	folders := stateRepoFolders(t, "app")
	for _, cluster := range sortedKeys(folders) {
		t.Run(cluster, func(t *testing.T) {
			objs, err := kustomize.BuildFS(os.DirFS(folders[cluster]), ".")
			require.NoError(t, err)
			require.NotEmpty(t, objs)

			files, err := filepath.Glob(filepath.Join(folders[cluster], "crds", "*.yaml"))
			require.NoError(t, err)
			require.Len(t, objs, len(files), "one object per file in crds/")

			var names []string
			for _, o := range objs {
				require.Equal(t, "CustomResourceDefinition", o.GetKind(),
					"an app folder holds only CRDs, found %s %s", o.GetKind(), o.GetName())
				assert.Equal(t, cluster, o.GetLabels()["bindsync.io/cluster"], "%s is labelled for its cluster", o.GetName())
				assert.Empty(t, o.GetNamespace(), "%s: CRDs are cluster-scoped", o.GetName())
				assert.FileExists(t, filepath.Join(folders[cluster], "crds", o.GetName()+".yaml"),
					"crds/<plural>.<group>.yaml is named after the CRD")
				names = append(names, o.GetName())
			}

			require.NoError(t, app.ApplyObjects(ctx, objs))
			require.NoError(t, app.WaitEstablished(ctx, names...))

			for _, o := range objs {
				var crd apiextensionsv1.CustomResourceDefinition
				require.NoError(t, app.Client.Get(ctx, client.ObjectKey{Name: o.GetName()}, &crd))
				assert.Equal(t, cluster, crd.Labels["bindsync.io/cluster"])
				hash := crd.Annotations["bindsync.io/schema-hash"]
				assert.Len(t, hash, 64, "%s carries its schema hash", crd.Name)
				assert.Equal(t, o.GetAnnotations()["bindsync.io/schema-hash"], hash)
				assert.True(t, strings.HasSuffix(crd.Name, "."+crd.Spec.Group))
			}
		})
	}
}
