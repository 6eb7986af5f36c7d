package backend

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/bindsync/bindsync/internal/memlimit"
)

// memoryAuto is --memory-limit's default.
const memoryAuto = "auto"

// cgroupLimitShare is the share of the container's memory limit that
// --memory-limit=auto gives the Go runtime at most: the rest is the
// binary's own pages, which count in the container's memory but not in the
// runtime's.
const cgroupLimitShare = 0.8

// defaultMemoryLimit is what --memory-limit=auto sets without $GOMEMLIMIT
// (or 80% of a smaller container limit): at 1000 clusters with 10 requests
// each, the backend's live heap peaks near 110 MiB in the first reconcile,
// and the garbage collector's default headroom (as much again) took RSS to
// 265 MB; with this limit it stays under 250 MB (docs/scale.md), the
// binary's own pages included (about 30 MB of the static binary that
// ships; 194 MB peak in the final scale run, 200 MB with no limit). Past it the collector runs
// more often rather than the heap growing; a live heap near it (far more
// clusters) needs a higher --memory-limit, or the collector takes up to
// half the CPU.
const defaultMemoryLimit = 170 << 20

// memoryLimit turns --memory-limit into the soft memory limit to set (0:
// leave the runtime's own, which is $GOMEMLIMIT or none) and says where it
// came from. value is a quantity ("400Mi"), "0" for none, or "auto":
// $GOMEMLIMIT when set, else 170 MiB or 80% of the container's memory limit,
// whichever is smaller. cgroupLimit returns the container's limit (false:
// none).
func memoryLimit(value, gomemlimit string, cgroupLimit func() (int64, bool)) (int64, string, error) {
	if value != memoryAuto {
		q, err := resource.ParseQuantity(value)
		if err != nil || q.Sign() < 0 {
			return 0, "", fmt.Errorf("--memory-limit %q is not a quantity of bytes such as 400Mi, 0 or auto", value)
		}
		if q.IsZero() {
			return 0, "none (--memory-limit=0)", nil
		}
		return q.Value(), "--memory-limit", nil
	}
	if gomemlimit != "" {
		return 0, "$GOMEMLIMIT", nil
	}
	if limit, ok := cgroupLimit(); ok {
		if share := int64(float64(limit) * cgroupLimitShare); share < defaultMemoryLimit {
			return share, fmt.Sprintf("%.0f%% of the container's memory limit (%d bytes)", cgroupLimitShare*100, limit), nil
		}
	}
	return defaultMemoryLimit, "--memory-limit=auto's default", nil
}

// containerMemoryLimit reads the memory limit of the process's cgroup.
func containerMemoryLimit() (int64, bool) { return memlimit.Container(memlimit.Root) }
