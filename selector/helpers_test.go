package selector

import (
	"fmt"
	"sync"
	"testing"

	"github.com/seedforge/discovery/core"
)

// constructors of every selector, by name; closest gets a location.
var constructors = []struct {
	name string
	new  func() Selector
}{
	{"random", NewRandom},
	{"roundrobin", NewRoundRobin},
	{"weighted", NewWeightedRoundRobin},
	{"consistenthash", NewConsistentHash},
	{"p2c", NewP2C},
	{"leasttps", NewLeastTPS},
	{"closest", func() Selector {
		s, err := NewClosest(48.85, 2.35)
		if err != nil {
			panic(err)
		}
		return s
	}},
}

func addr(i int) string { return fmt.Sprintf("tcp@10.0.%d.%d:8972", i/256, i%256) }

// instances returns n instances with addresses addr(0)…addr(n-1); meta, if
// not nil, gives each one's metadata.
func instances(n int, meta func(i int) core.Metadata) []core.Instance {
	out := make([]core.Instance, n)
	for i := range out {
		out[i] = core.Instance{Service: "svc", Addr: addr(i)}
		if meta != nil {
			out[i].Meta = meta(i)
		}
	}
	return out
}

// withAddrs returns instances with the given addresses.
func withAddrs(addrs ...string) []core.Instance {
	out := make([]core.Instance, len(addrs))
	for i, a := range addrs {
		out[i] = core.Instance{Service: "svc", Addr: a}
	}
	return out
}

// count selects n times and counts picks per address, calling Done.
func count(t testing.TB, s Selector, n int, key func(i int) string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := range n {
		k := ""
		if key != nil {
			k = key(i)
		}
		p, err := s.Select(k)
		if err != nil {
			t.Fatalf("Select: %v", err)
		}
		p.Done(nil)
		got[p.Instance.Addr]++
	}
	return got
}

// sequence selects n times and returns the addresses in order.
func sequence(t testing.TB, s Selector, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range out {
		p, err := s.Select("")
		if err != nil {
			t.Fatalf("Select: %v", err)
		}
		p.Done(nil)
		out[i] = p.Instance.Addr
	}
	return out
}

// countParallel runs count(n) in each of goroutines goroutines at once and
// adds up the picks per address.
func countParallel(t testing.TB, s Selector, goroutines, n int) map[string]int {
	var mu sync.Mutex
	total := map[string]int{}
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			got := count(t, s, n, nil)
			mu.Lock()
			defer mu.Unlock()
			for a, k := range got {
				total[a] += k
			}
		})
	}
	wg.Wait()
	return total
}
