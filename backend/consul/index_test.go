//go:build consul

package consul

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/consul/consultest"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/leaktest"
)

// TestNextIndex pins Consul's index rules.
func TestNextIndex(t *testing.T) {
	for _, c := range []struct{ prev, got, want uint64 }{
		{0, 0, 1},    // never wait on 0: that is no wait at all
		{0, 7, 7},    // first answer
		{7, 7, 7},    // the wait ended with nothing new
		{7, 9, 9},    // forwards
		{900, 12, 0}, // backwards (agent restarted, tombstones reaped): start over
		{5, 1, 0},
		{0, 12, 12}, // the answer to the reset query
		{1, 0, 1},   // 0 is raised to 1 even when it is also backwards
		{13, 0, 1},
		{0, 0xffff, 0xffff},
	} {
		if got := nextIndex(c.prev, c.got); got != c.want {
			t.Errorf("nextIndex(%d, %d) = %d, want %d", c.prev, c.got, got, c.want)
		}
	}
}

// scriptedFetch answers Next's queries from a script of indexes, recording
// the index each query waited on.
type scriptedFetch struct {
	answers []uint64
	asked   []uint64
	starts  []time.Time
}

func (s *scriptedFetch) fetch(_ context.Context, index uint64, _ time.Duration) ([]core.Instance, uint64, error) {
	s.asked = append(s.asked, index)
	s.starts = append(s.starts, time.Now())
	if len(s.answers) == 0 {
		return nil, 0, fmt.Errorf("script exhausted")
	}
	got := s.answers[0]
	s.answers = s.answers[1:]
	return []core.Instance{{Service: "s", Addr: fmt.Sprintf("tcp@h:%d", got)}}, got, nil
}

// TestWatcherIndexRules drives a watcher with scripted answers: which index
// each query waits on, which answers become lists, and the pause between
// queries that keeps an answer-at-once loop from spinning.
func TestWatcherIndexRules(t *testing.T) {
	leaktest.Check(t)
	s := &scriptedFetch{answers: []uint64{50, 50, 50, 60, 20, 20, 0, 0, 0, 0}}
	c := &client{cfg: Config{WaitTime: time.Second, MinQueryInterval: 30 * time.Millisecond}, ctx: context.Background()}
	w := c.newWatcher(context.Background(), s.fetch)
	defer w.Close()
	ctx := ctxFor(t, 10*time.Second)
	var lists []uint64
	for range 4 {
		l, err := w.Next(ctx)
		must(t, err)
		var port uint64
		fmt.Sscanf(l[0].Addr, "tcp@h:%d", &port)
		lists = append(lists, port)
	}
	// 50 first; two answers of the same index are swallowed; 60; 20 went
	// backwards: returned, and the next query (index 0) answers 20 again,
	// which is nothing new; then 0, which is a change, and raised to 1.
	if want := []uint64{50, 60, 20, 0}; !slices.Equal(lists, want) {
		t.Errorf("lists from answers %v, want %v", lists, want)
	}
	if want := []uint64{0, 50, 50, 50, 60, 0, 20}; !slices.Equal(s.asked, want) {
		t.Errorf("queries waited on %v, want %v", s.asked, want)
	}
	// Consul keeps answering 0 at once: the watcher waits on 1 and returns
	// nothing (no change), paced by the minimum interval, until an error.
	if _, err := w.Next(ctx); err == nil {
		t.Fatal("Next returned a list for answers that never changed")
	}
	if got := s.asked[7:]; !slices.Equal(got, []uint64{1, 1, 1, 1}) {
		t.Errorf("after answers of index 0 the queries waited on %v, want 1s", got)
	}
	for i := 1; i < len(s.starts); i++ {
		if gap := s.starts[i].Sub(s.starts[i-1]); gap < 30*time.Millisecond {
			t.Errorf("queries %d and %d started %v apart, under the 30ms minimum", i-1, i, gap)
		}
	}
	// Close ends a Next in its pause with ErrClosed.
	w.Close()
	if _, err := w.Next(ctx); err != core.ErrClosed {
		t.Errorf("Next after Close = %v, want ErrClosed", err)
	}
}

// TestIndexGoesBackwards restarts the agent between two queries of one
// watcher, so its next query carries the old agent's (high) index to a fresh
// agent whose index is far lower. Consul then blocks until the wait ends
// (nothing will pass the stale index), answers with its lower index, and the
// watcher must reset to 0 and report the new agent's list instead of waiting
// on a stale index forever. Both modes.
func TestIndexGoesBackwards(t *testing.T) {
	leaktest.Check(t)
	a := consultest.Start(t, consultest.Options{HCL: sharedHCL})
	for _, mode := range []Mode{ModeCatalog, ModeKV} {
		t.Run(string(mode), func(t *testing.T) {
			const wait = 2 * time.Second
			d := newDriver(t, a, mode, Config{WaitTime: wait})
			ttl := time.Hour
			svc := svcName(t)
			ctx := ctxFor(t, time.Minute)
			old := core.Instance{Service: svc, Addr: "tcp@127.0.0.1:31001"}
			must(t, d.Put(ctx, old, ttl))
			// Push the index well past what a fresh agent starts at.
			for i := range 150 {
				must(t, a.Do(ctx, "PUT", fmt.Sprintf("/v1/kv/filler/%d", i), "", "x", nil))
			}
			must(t, d.Put(ctx, core.Instance{Service: svc, Addr: "tcp@127.0.0.1:31002", Meta: core.Metadata{"v": "1"}}, ttl))
			wt, err := d.Watch(ctx, svc)
			must(t, err)
			defer wt.Close()
			w := wt.(*watcher)
			l, err := w.Next(ctx)
			must(t, err)
			if len(l) != 2 {
				t.Fatalf("first list %v", coretest.Addrs(l))
			}
			oldIndex := w.index
			must(t, a.Restart())
			fresh := core.Instance{Service: svc, Addr: "tcp@127.0.0.1:31003"}
			must(t, d.Put(ctx, fresh, ttl))
			// The old agent's connection is gone; the next query dials anew
			// (dropped here so the test does not depend on when the transport
			// notices the dead connection).
			clientOf(d).transport.CloseIdleConnections()
			start := time.Now()
			l, err = w.Next(ctx)
			must(t, err)
			took := time.Since(start)
			if got := coretest.Addrs(l); !slices.Equal(got, []string{fresh.Addr}) {
				t.Fatalf("after the restart Next = %v, want the new agent's %v", got, fresh.Addr)
			}
			if w.index != 0 {
				t.Errorf("index after going backwards from %d = %d, want reset to 0", oldIndex, w.index)
			}
			t.Logf("query with the old index %d returned after %v (wait %v) with a lower index; reset to 0", oldIndex, took.Round(time.Millisecond), wait)
			// Blocking works from the new index: the reset query and the one
			// after see a change made meanwhile well within one wait.
			other := core.Instance{Service: svc, Addr: "tcp@127.0.0.1:31004"}
			done := make(chan struct{})
			go func() {
				defer close(done)
				time.Sleep(300 * time.Millisecond) // lets Next block first
				d.Put(context.Background(), other, ttl)
			}()
			defer func() { <-done }()
			start = time.Now()
			l, err = w.Next(ctx)
			for err == nil && !slices.Contains(coretest.Addrs(l), other.Addr) {
				l, err = w.Next(ctx)
			}
			must(t, err)
			if got := coretest.Addrs(l); !slices.Contains(got, other.Addr) {
				t.Fatalf("blocking on the new index: got %v, want %s in it", got, other.Addr)
			}
			if took := time.Since(start); took >= wait {
				t.Errorf("the change took %v, a whole wait: the query did not block on the new index", took)
			}
			if w.index == 0 || w.index >= oldIndex {
				t.Errorf("index after the reset = %d, want the new agent's (0 < i < %d)", w.index, oldIndex)
			}
		})
	}
}
