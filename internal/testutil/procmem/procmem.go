// Package procmem measures the memory of a child process from Linux's
// /proc/<pid>/status, for the benchmarks that run bindsync as its own
// process: one reading (Read) and a sampler that keeps the largest VmRSS
// seen (Sample). VmHWM, the kernel's high-water mark of VmRSS over the
// process's life, misses nothing between samples; the samples say when, and
// how the peak splits into RssAnon (heap, stacks) and RssFile (mapped files,
// the executable's pages).
package procmem

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory is one reading of /proc/<pid>/status, in bytes.
type Memory struct {
	RSS  int64 // VmRSS
	HWM  int64 // VmHWM: the highest VmRSS over the process's life
	Anon int64 // RssAnon
	File int64 // RssFile
}

// MB is bytes in MB (2^20 bytes), as the benchmarks report memory.
func MB(bytes int64) float64 { return float64(bytes) / (1 << 20) }

// Read reads the memory of process pid.
func Read(pid int) (Memory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, fmt.Errorf("memory of process %d: %w", pid, err)
	}
	var m Memory
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		f := strings.Fields(s.Text())
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			m.RSS = kb << 10
		case "VmHWM:":
			m.HWM = kb << 10
		case "RssAnon:":
			m.Anon = kb << 10
		case "RssFile:":
			m.File = kb << 10
		}
	}
	return m, nil
}

// Sampler reads a process's memory at a fixed interval until Stop.
type Sampler struct {
	done chan struct{}
	wg   sync.WaitGroup

	mu      sync.Mutex
	peak    Memory // the sample with the largest VmRSS
	last    Memory
	samples int
}

// Sample starts reading pid's memory now and then every interval. Each
// reading is passed to onSample (when not nil), on the sampler's goroutine;
// a failed reading (the process is gone) is skipped.
func Sample(pid int, every time.Duration, onSample func(Memory)) *Sampler {
	s := &Sampler{done: make(chan struct{})}
	s.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := Read(pid); err == nil {
				s.mu.Lock()
				s.samples++
				s.last = m
				if m.RSS > s.peak.RSS {
					s.peak = m
				}
				s.mu.Unlock()
				if onSample != nil {
					onSample(m)
				}
			}
			select {
			case <-s.done:
				return
			case <-t.C:
			}
		}
	})
	return s
}

// Peak returns the sample with the largest VmRSS so far, the last sample
// and the number of samples.
func (s *Sampler) Peak() (peak, last Memory, samples int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.last, s.samples
}

// Stop ends sampling and returns the sample with the largest VmRSS. It may
// be called more than once.
func (s *Sampler) Stop() Memory {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	s.wg.Wait()
	peak, _, _ := s.Peak()
	return peak
}
