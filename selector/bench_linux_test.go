//go:build linux

package selector

import (
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/seedforge/discovery/core"
)

// BenchmarkWeightedVsRoundRobin runs weighted and roundrobin Select side by
// side from parallel goroutines, in alternating chunks, and charges each
// chunk the CPU time of its thread (RUSAGE_THREAD), not wall time: on a
// machine shared with other builds a descheduled chunk would otherwise count
// another process's time. cpu-ns/op are per Select (and Done); ratio is
// weighted's over roundrobin's, the target being at most 1.2.
func BenchmarkWeightedVsRoundRobin(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			list := instances(n, func(i int) core.Metadata { return core.Metadata{"weight": strconv.Itoa(i%5 + 1)} })
			sels := [2]Selector{NewRoundRobin(), NewWeightedRoundRobin()}
			for _, s := range sels {
				s.Update(list)
			}
			var cpu, calls [2]atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				const chunk = 20000
				for k := 0; ; k++ {
					s, done := sels[k%2], 0
					start := threadCPU(b)
					for ; done < chunk && pb.Next(); done++ {
						p, _ := s.Select("")
						p.Done(nil)
					}
					cpu[k%2].Add(threadCPU(b) - start)
					calls[k%2].Add(int64(done))
					if done < chunk {
						return
					}
				}
			})
			per := func(i int) float64 { return float64(cpu[i].Load()) / float64(max(calls[i].Load(), 1)) }
			b.ReportMetric(per(0), "rr-cpu-ns/op")
			b.ReportMetric(per(1), "wrr-cpu-ns/op")
			b.ReportMetric(per(1)/per(0), "ratio")
		})
	}
}

// threadCPU is the CPU time of the calling thread, in ns (µs resolution).
func threadCPU(b *testing.B) int64 { return rusageCPU(b, 1) } // RUSAGE_THREAD

// processCPU is the CPU time of the whole process (GC workers included).
func processCPU(b *testing.B) int64 { return rusageCPU(b, syscall.RUSAGE_SELF) }

func rusageCPU(b *testing.B, who int) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
