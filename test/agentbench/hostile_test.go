package agentbench

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/bindsync/bindsync/api/v1alpha1"
	"github.com/bindsync/bindsync/internal/staterepo"
	"github.com/bindsync/bindsync/internal/testutil/procmem"
)

// yamlBomb is 9 levels of 9 aliases each: under 400 bytes that expand to
// 9^9 strings when a YAML reader resolves the aliases.
func yamlBomb() []byte {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: laughs}\ndata:\n  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n")
	for i := 1; i < 9; i++ {
		p, c := string(rune('a'+i-1)), string(rune('a'+i))
		fmt.Fprintf(&b, "  %s: &%s [*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s,*%s]\n", c, c, p, p, p, p, p, p, p, p, p)
	}
	return []byte(b.String())
}

// TestAgentProcessSurvivesHostileCommits runs the real `bindsync agent`
// binary on a small state repository and pushes commits meant to crash it:
// a file of nested YAML aliases (a few hundred bytes that expand to
// gigabytes in a YAML reader), then a file over the size bound. The agent
// must refuse each before kustomize reads it, say so on the bindings
// (BuildFailed, naming the file), keep the CRDs it applied, keep running,
// and stay under its memory target (80 MB peak VmHWM) throughout.
func TestAgentProcessSurvivesHostileCommits(t *testing.T) {
	ctx := context.Background()
	crds := benchCRDs(t, 0)
	names := crdNames(crds)
	tree := renderTree(t, renderInput(crds))
	remote := newGitRemote(t)
	remote.commit(tree, "state")
	remote.push()
	app := newApp(ctx, t)
	createBindings(ctx, t, app, names)
	p := startAgent(t, buildAgent(t), app, remote.url())
	mem := p.sampleMemory(20 * time.Millisecond)
	require.NoError(t, waitCRDs(ctx, app, names, established), "the good commit is applied")

	dir := staterepo.AppDir(benchCluster)
	kustomization := string(tree[dir+"/kustomization.yaml"])
	hostile := []struct {
		name, file string
		data       []byte
		says       string
	}{
		{name: "nested YAML aliases", file: "crds/laughs.yaml", data: yamlBomb(), says: "anchors and aliases"},
		{name: "a file over the size bound", file: "crds/huge.yaml", data: []byte("# " + strings.Repeat("x", 4<<20) + "\n"), says: "too large"},
	}
	for _, h := range hostile {
		bad := staterepo.Tree{}
		for k, v := range tree {
			bad[k] = v
		}
		bad[dir+"/"+h.file] = h.data
		bad[dir+"/kustomization.yaml"] = []byte(strings.Replace(kustomization, "resources:\n", "resources:\n- "+h.file+"\n", 1))
		remote.commit(bad, h.name)
		remote.push()
		p.callWebhook(t)

		// The agent writes the bindings' status one after another: wait
		// for the last of them, not the first.
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
			for _, n := range names {
				var b v1alpha1.APIServiceBinding
				if err := app.Client.Get(ctx, client.ObjectKey{Name: n}, &b); err != nil {
					return false, nil
				}
				ready := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ReadyCondition)
				if ready == nil || !strings.Contains(ready.Message, h.says) {
					return false, nil
				}
			}
			return true, nil
		})
		require.NoError(t, err, "%s: the agent refused the commit (log:\n%s)", h.name, tail(p.log, 20))
		for _, n := range names {
			var b v1alpha1.APIServiceBinding
			require.NoError(t, app.Client.Get(ctx, client.ObjectKey{Name: n}, &b))
			ready := meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ReadyCondition)
			require.NotNil(t, ready, n)
			assert.Equal(t, v1alpha1.BuildFailedReason, ready.Reason, "%s: %s", h.name, n)
			assert.Contains(t, ready.Message, h.says, "%s: %s", h.name, n)
		}
		require.NoError(t, waitCRDs(ctx, app, names, established), "%s: the applied CRDs stay", h.name)
		require.NoError(t, p.cmd.Process.Signal(syscall.Signal(0)), "%s: the agent is still running", h.name)
	}
	peak := mem.Stop()
	hwm := p.hwm()
	t.Logf("agent peak VmHWM %.1f MB (largest VmRSS sample %.1f MB: anon %.1f, file %.1f)",
		hwm, procmem.MB(peak.RSS), procmem.MB(peak.Anon), procmem.MB(peak.File))
	assert.Less(t, hwm, 80.0, "the agent's memory target")
}
