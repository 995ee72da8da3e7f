package selector

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/seedforge/discovery/core"
)

func TestEmpty(t *testing.T) {
	for _, c := range constructors {
		t.Run(c.name, func(t *testing.T) {
			s := c.new()
			if _, err := s.Select("k"); !errors.Is(err, ErrNoInstances) {
				t.Fatalf("before Update: err = %v, want ErrNoInstances", err)
			}
			for _, list := range [][]core.Instance{nil, {}} {
				s.Update(instances(3, nil))
				s.Update(list)
				if _, err := s.Select("k"); !errors.Is(err, ErrNoInstances) {
					t.Fatalf("after Update(%#v): err = %v, want ErrNoInstances", list, err)
				}
			}
		})
	}
}

func TestSingle(t *testing.T) {
	for _, c := range constructors {
		t.Run(c.name, func(t *testing.T) {
			s := c.new()
			s.Update(withAddrs("tcp@only:1"))
			for i := range 20 {
				p, err := s.Select(fmt.Sprint(i))
				if err != nil || p.Instance.Addr != "tcp@only:1" {
					t.Fatalf("Select = %q, %v; want tcp@only:1", p.Instance.Addr, err)
				}
				p.Done(nil)
			}
		})
	}
}

// Update must not keep the caller's slice, which may be reused.
func TestUpdateCopies(t *testing.T) {
	for _, c := range constructors {
		t.Run(c.name, func(t *testing.T) {
			s := c.new()
			list := instances(4, nil)
			s.Update(list)
			for i := range list {
				list[i].Addr = "tcp@reused:1"
			}
			for addr, n := range count(t, s, 200, func(i int) string { return fmt.Sprint(i) }) {
				if addr == "tcp@reused:1" {
					t.Fatalf("picked the caller's rewritten element %d times", n)
				}
			}
		})
	}
}

func TestSelectDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	for _, c := range constructors {
		t.Run(c.name, func(t *testing.T) {
			s := c.new()
			s.Update(instances(100, func(i int) core.Metadata {
				return core.Metadata{"weight": fmt.Sprint(i%4 + 1), "tps": fmt.Sprint(i)}
			}))
			allocs := testing.AllocsPerRun(1000, func() {
				p, err := s.Select("user-42")
				if err != nil {
					t.Fatal(err)
				}
				p.Done(nil)
			})
			if allocs != 0 {
				t.Fatalf("Select+Done: %v allocs/op, want 0", allocs)
			}
		})
	}
}

// Run with -race: Update while many goroutines Select.
func TestConcurrentUpdateAndSelect(t *testing.T) {
	lists := [][]core.Instance{
		instances(1, nil),
		instances(7, func(i int) core.Metadata { return core.Metadata{"weight": fmt.Sprint(i)} }),
		instances(50, func(i int) core.Metadata {
			return core.Metadata{"tps": fmt.Sprint(i), "latitude": "48.8", "longitude": fmt.Sprint(i % 3)}
		}),
		nil,
	}
	for _, c := range constructors {
		t.Run(c.name, func(t *testing.T) {
			s := c.new()
			s.Update(lists[0])
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for g := range 8 {
				wg.Go(func() {
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						p, err := s.Select(fmt.Sprint(g, i))
						if err != nil && !errors.Is(err, ErrNoInstances) {
							t.Error(err)
							return
						}
						if err == nil && p.Instance.Addr == "" {
							t.Error("picked an empty instance")
							return
						}
						p.Done(nil)
					}
				})
			}
			for i := range 200 {
				s.Update(lists[i%len(lists)])
			}
			close(stop)
			wg.Wait()
		})
	}
}

// countCursors returns a function that counts the cursors of c used since
// countCursors was called: each walks its own contiguous stretch.
func countCursors(c *cursors) func() int {
	var start [maxCursors]uint64
	for i := range c.table {
		start[i] = c.table[i].n
	}
	return func() int {
		used := 0
		for i := range c.table {
			if c.table[i].n != start[i] {
				used++
			}
		}
		return used
	}
}

func TestRoundRobinRotates(t *testing.T) {
	// One goroutine on one P: one cursor, even when the pool drops it (the
	// race detector does on purpose), since it is claimed again from the table.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := NewRoundRobin().(*roundRobin)
	created := countCursors(s.seq)
	s.Update(instances(5, nil))
	seq := sequence(t, s, 15)
	if created() != 1 {
		t.Fatalf("one goroutine used %d cursors, want 1", created())
	}
	for i := range seq {
		if want := seq[i%5]; seq[i] != want {
			t.Fatalf("pick %d = %s, want %s (period 5): %v", i, seq[i], want, seq)
		}
	}
	seen := map[string]bool{}
	for _, a := range seq[:5] {
		seen[a] = true
	}
	if len(seen) != 5 {
		t.Fatalf("one period picked %d distinct instances, want 5: %v", len(seen), seq[:5])
	}
}

// Per-P cursors keep the total even: each cursor adds at most one call to an
// instance beyond the exact share.
func TestRoundRobinEven(t *testing.T) {
	for _, c := range []struct {
		name string
		new  func() (Selector, *cursors)
	}{
		{"roundrobin", func() (Selector, *cursors) { s := NewRoundRobin().(*roundRobin); return s, s.seq }},
		{"closest", func() (Selector, *cursors) { s, _ := NewClosest(0, 0); return s, s.(*closest).seq }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, cur := c.new()
			created := countCursors(cur)
			s.Update(instances(10, nil))
			total := countParallel(t, s, 8, 1000)
			slack := int(created())
			for i := range 10 {
				if n := total[addr(i)]; n < 800-slack || n > 800+slack {
					t.Fatalf("%s: %d picks, want 800±%d (cursors): %v", addr(i), n, slack, total)
				}
			}
		})
	}
}

func TestRandomCoversAll(t *testing.T) {
	s := NewRandom()
	s.Update(instances(4, nil))
	got := count(t, s, 4000, nil)
	for i := range 4 {
		// Expected 1000 each; 700 is more than 10 standard deviations below.
		if got[addr(i)] < 700 {
			t.Fatalf("distribution %v is not uniform", got)
		}
	}
}
