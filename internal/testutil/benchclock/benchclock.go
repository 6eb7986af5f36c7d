// Package benchclock keeps a benchmark's timer and, beside it, the CPU time
// spent while it runs (user and system, of every thread of the process and of
// the child processes waited for), reported as cpu-ns/op. On a machine shared
// with other jobs the wall clock grows with their load; CPU time much less.
package benchclock

import (
	"runtime"
	"syscall"
	"testing"
	"time"
)

// Clock is started by Start and reports with Report.
type Clock struct {
	b         *testing.B
	cpu, mark time.Duration
}

// Start collects the setup's garbage (so the timed loop is not billed for
// it), turns on allocation reporting, resets the timer and starts counting.
func Start(b *testing.B) *Clock {
	runtime.GC()
	b.ReportAllocs()
	b.ResetTimer()
	return &Clock{b: b, mark: processCPU()}
}

// Stop stops the timer and the CPU count, for work that is not measured.
func (c *Clock) Stop() {
	c.b.StopTimer()
	c.cpu += processCPU() - c.mark
}

// Resume starts both again.
func (c *Clock) Resume() {
	c.mark = processCPU()
	c.b.StartTimer()
}

// Report stops the clock and reports cpu-ns/op.
func (c *Clock) Report() {
	c.Stop()
	c.b.ReportMetric(float64(c.cpu.Nanoseconds())/float64(c.b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if err := syscall.Getrusage(who, &ru); err != nil {
			panic(err)
		}
		total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return total
}
