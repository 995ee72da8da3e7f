package selector

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/seedforge/discovery/core"
)

// BenchmarkSelect measures Select (and Done) from parallel goroutines, with
// weights, tps and coordinates set so that every selector does real work.
func BenchmarkSelect(b *testing.B) {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "user-" + strconv.Itoa(i)
	}
	for _, c := range constructors {
		for _, n := range []int{10, 1000} {
			b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
				s := c.new()
				s.Update(instances(n, func(i int) core.Metadata {
					return core.Metadata{
						"weight":    strconv.Itoa(i%5 + 1),
						"tps":       strconv.Itoa(i * 7 % 100),
						"latitude":  strconv.Itoa(i % 90),
						"longitude": strconv.Itoa(i % 180),
					}
				}))
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						p, err := s.Select(keys[i&1023])
						if err != nil {
							b.Error(err)
							return
						}
						p.Done(nil)
						i++
					}
				})
			})
		}
	}
}

// BenchmarkConsistentHashChange: one instance added or removed at 10,000
// instances (1.6M ring points), through Apply, through Update with the full
// list, and the full build of the ring for comparison.
func BenchmarkConsistentHashChange(b *testing.B) {
	const n = 10000
	list := instances(n+1, nil)
	for _, via := range []string{"apply", "update", "build"} {
		b.Run(fmt.Sprintf("%s/n=%d", via, n), func(b *testing.B) {
			s := NewConsistentHash().(*consistentHash)
			s.Update(list[:n])
			extra := list[n:]
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU(b)
			defer func() { reportCPU(b, cpu) }()
			for i := range b.N {
				add := i%2 == 0
				switch {
				case via == "build":
					NewConsistentHash().Update(list[:n])
				case via == "apply" && add:
					s.Apply(extra, nil)
				case via == "apply":
					s.Apply(nil, extra)
				case add:
					s.Update(list)
				default:
					s.Update(list[:n])
				}
			}
		})
	}
}

// BenchmarkUpdate: Update with one instance more or less than the last
// list, at 10,000 weighted instances, for every selector.
func BenchmarkUpdate(b *testing.B) {
	const n = 10000
	list := instances(n+1, func(i int) core.Metadata {
		return core.Metadata{"weight": strconv.Itoa(i%5 + 1), "tps": strconv.Itoa(i % 100)}
	})
	for _, c := range constructors {
		b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
			s := c.new()
			s.Update(list[:n])
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU(b)
			for i := range b.N {
				s.Update(list[:n+(i+1)%2])
			}
			reportCPU(b, cpu)
		})
	}
}

// reportCPU reports the process's CPU time per op since start (from
// processCPU), which, unlike wall time, does not count other processes'
// turns on a shared machine. Where it is not measured nothing is reported.
func reportCPU(b *testing.B, start int64) {
	if start > 0 {
		b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkApply: one instance added or removed at 10,000 instances through
// Apply, for every Incremental selector.
func BenchmarkApply(b *testing.B) {
	const n = 10000
	list := instances(n+1, func(i int) core.Metadata { return core.Metadata{"weight": strconv.Itoa(i%5 + 1)} })
	for _, c := range constructors {
		if _, ok := c.new().(Incremental); !ok {
			continue
		}
		b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
			s := c.new().(Incremental)
			s.Update(list[:n])
			extra := list[n:]
			b.ReportAllocs()
			b.ResetTimer()
			cpu := processCPU(b)
			for i := range b.N {
				if i%2 == 0 {
					s.Apply(extra, nil)
				} else {
					s.Apply(nil, extra)
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkWeightedBuild: the schedule of 10,000 instances with weights 1-5
// (period 30,000, stride scheduling) built from scratch, what every change
// cost before changes were merged (BenchmarkApply, BenchmarkUpdate).
func BenchmarkWeightedBuild(b *testing.B) {
	const n = 10000
	list := instances(n, func(i int) core.Metadata { return core.Metadata{"weight": strconv.Itoa(i%5 + 1)} })
	b.ReportAllocs()
	cpu := processCPU(b)
	for range b.N {
		NewWeightedRoundRobin().Update(list)
	}
	reportCPU(b, cpu)
}
