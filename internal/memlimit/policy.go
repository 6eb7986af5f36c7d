package memlimit

import (
	"fmt"
	"os"
	"runtime/debug"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Auto is the --memory-limit value that works the limit out (so does an
// empty value): see Policy.
const Auto = "auto"

// Policy is how a command works out its soft memory limit when
// --memory-limit is auto (or empty): $GOMEMLIMIT when the environment sets
// one (the runtime has read it), else Share of the container's memory limit,
// at most Default; without a container limit, Default (0: none).
type Policy struct {
	// Share of the container's memory limit the Go runtime may use: the
	// rest is the binary's own pages and what the runtime does not count.
	Share float64
	// Default is the limit without a container limit, and the most Share
	// gives (0: no default, and Share's answer as it is).
	Default int64
}

// Limit turns the value of --memory-limit into the soft memory limit to set
// (0: set nothing, leaving the runtime's own, $GOMEMLIMIT or none) and says
// where it came from. value is a quantity ("400Mi", bytes), "0" for none,
// or "auto" or empty for the Policy. getenv reads the environment;
// container returns the container's memory limit (false: none).
func (p Policy) Limit(value string, getenv func(string) string, container func() (int64, bool)) (limit int64, how string, err error) {
	if value != "" && value != Auto {
		q, err := resource.ParseQuantity(value)
		if err != nil {
			return 0, "", fmt.Errorf("--memory-limit %q is not a quantity of bytes such as 400Mi, 0 or auto: %w", value, err)
		}
		if q.Sign() < 0 {
			return 0, "", fmt.Errorf("--memory-limit %q is not a quantity of bytes such as 400Mi, 0 or auto: it is negative", value)
		}
		if q.IsZero() {
			return 0, "none (--memory-limit=0)", nil
		}
		return q.Value(), "--memory-limit", nil
	}
	if getenv("GOMEMLIMIT") != "" {
		return 0, "$GOMEMLIMIT", nil
	}
	if c, ok := container(); ok {
		if share := int64(float64(c) * p.Share); p.Default == 0 || share < p.Default {
			return share, fmt.Sprintf("%.0f%% of the container's memory limit (%d bytes)", p.Share*100, c), nil
		}
	}
	if p.Default > 0 {
		return p.Default, "--memory-limit=auto's default", nil
	}
	return 0, "none: no --memory-limit, $GOMEMLIMIT or container memory limit", nil
}

// Apply works out the limit for this process (its environment, its cgroup
// under Root) and sets it with runtime/debug.SetMemoryLimit when there is
// one to set. It returns what Limit returns.
func (p Policy) Apply(value string) (limit int64, how string, err error) {
	limit, how, err = p.Limit(value, os.Getenv, func() (int64, bool) { return Container(Root) })
	if err != nil {
		return 0, "", err
	}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	return limit, how, nil
}
