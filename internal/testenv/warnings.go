package testenv

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ApplyWithWarnings server-side applies objs as an administrator, in the
// order given, and returns the warnings the API server sent back (Pod
// Security, deprecations). An object whose kind is not served yet (a CRD
// applied just before, not yet Established) is tried again for up to
// about 10 s.
func (c *Cluster) ApplyWithWarnings(ctx context.Context, objs []*unstructured.Unstructured) ([]string, error) {
	w := &warningRecorder{}
	cfg := rest.CopyConfig(c.Config)
	cfg.WarningHandler = w
	cl, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.Name, err)
	}
	for _, o := range objs {
		var err error
		for wait := 50 * time.Millisecond; wait < 10*time.Second; wait *= 2 {
			err = cl.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()),
				client.FieldOwner(FieldOwner), client.ForceOwnership)
			if err == nil || !strings.Contains(err.Error(), "no matches for kind") {
				break
			}
			time.Sleep(wait)
		}
		if err != nil {
			return w.all(), fmt.Errorf("%s: apply %s %s: %w", c.Name, o.GetKind(), o.GetName(), err)
		}
	}
	return w.all(), nil
}

// warningRecorder keeps the warnings an API server sends back.
type warningRecorder struct {
	mu       sync.Mutex
	warnings []string
}

func (w *warningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warnings = append(w.warnings, text)
}

func (w *warningRecorder) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.warnings)
}
