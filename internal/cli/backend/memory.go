package backend

import (
	"github.com/bindsync/bindsync/internal/memlimit"
)

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

// memoryPolicy is what --memory-limit=auto (the default) sets: $GOMEMLIMIT
// when set, else defaultMemoryLimit or cgroupLimitShare of a smaller
// container limit.
var memoryPolicy = memlimit.Policy{Share: cgroupLimitShare, Default: defaultMemoryLimit}
