package render

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestInstanceNamespacesAreValidAndUnambiguous(t *testing.T) {
	long := strings.Repeat("a", 54)
	longNS := strings.Repeat("n", 63)
	pairs := [][2]string{{"a-b", "c"}, {"a", "b-c"}, {"a", "b"}, {long, longNS}, {long, longNS[:62]}, {"x", strings.Repeat("-", 1) + "y"}}
	seen := map[string][2]string{}
	for _, p := range pairs {
		n := InstanceNamespace(p[0], p[1])
		if errs := validation.IsDNS1123Label(n); len(errs) > 0 {
			t.Errorf("InstanceNamespace(%q, %q) = %q: %v", p[0], p[1], n, errs)
		}
		if !strings.HasPrefix(n, InstanceNamespacePrefix) || strings.HasPrefix(n, "bindsync-") {
			t.Errorf("InstanceNamespace(%q, %q) = %q: want prefix %q, never a cluster namespace's", p[0], p[1], n, InstanceNamespacePrefix)
		}
		if q, ok := seen[n]; ok {
			t.Errorf("%v and %v both map to %q", p, q, n)
		}
		seen[n] = p
	}
	if got := InstanceNamespace("team-a", "shop"); !strings.HasPrefix(got, "bsi-team-a-shop-") {
		t.Errorf("a short pair is readable: got %q", got)
	}
	if InstanceNamespace("a", "b") != InstanceNamespace("a", "b") {
		t.Error("not deterministic")
	}
}
