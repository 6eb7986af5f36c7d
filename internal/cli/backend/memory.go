package backend

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// memoryAuto is --memory-limit's default.
const memoryAuto = "auto"

// cgroupLimitShare is the share of the container's memory limit that
// --memory-limit=auto gives the Go runtime: the rest is the binary's own
// pages, which count in the container's memory but not in the runtime's.
const cgroupLimitShare = 0.8

// cgroupFiles hold the memory limit of the process's cgroup (v2, then v1).
var cgroupFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// memoryLimit turns --memory-limit into the soft memory limit to set (0:
// leave the runtime's own, which is $GOMEMLIMIT or none) and says where it
// came from. value is a quantity ("400Mi"), "0" for none, or "auto": 80 % of
// the container's memory limit when there is one and $GOMEMLIMIT is not set.
// cgroupLimit returns the container's limit (false: none).
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
		return int64(float64(limit) * cgroupLimitShare), fmt.Sprintf("%.0f%% of the container's memory limit (%d bytes)", cgroupLimitShare*100, limit), nil
	}
	return 0, "none (no container memory limit)", nil
}

// containerMemoryLimit reads the memory limit of the process's cgroup.
func containerMemoryLimit() (int64, bool) {
	for _, f := range cgroupFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		return parseCgroupLimit(string(data))
	}
	return 0, false
}

// parseCgroupLimit reads a cgroup memory limit: "max" (v2) or a number of
// bytes, where v1 says "none" with a number near the largest int64.
func parseCgroupLimit(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n >= 1<<60 {
		return 0, false
	}
	return n, true
}
