package selector_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/internal/leaktest"
	"github.com/seedforge/discovery/selector"
)

func TestFollowFeedsSelectorAndCallFailsOver(t *testing.T) {
	leaktest.Check(t)
	c, err := discovery.Open("inprocess://selector-follow")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, a := range []string{"tcp@127.0.0.1:1", "tcp@127.0.0.1:2"} {
		if err := c.Register(ctx, core.Instance{Service: "S", Addr: a}); err != nil {
			t.Fatal(err)
		}
	}
	sel := selector.NewRoundRobin()
	if err := selector.Follow(ctx, c, "S", sel); err != nil {
		t.Fatal(err)
	}
	// :1 is down: failover reaches :2 every time.
	for range 10 {
		var served string
		err := selector.Call(ctx, sel, selector.CallOptions{Mode: selector.Failover, Backoff: -1}, func(_ context.Context, in core.Instance) error {
			if in.Addr == "tcp@127.0.0.1:1" {
				return errors.New("connection refused")
			}
			served = in.Addr
			return nil
		})
		if err != nil || served != "tcp@127.0.0.1:2" {
			t.Fatalf("Call = %v, served by %q", err, served)
		}
	}
	// Changes reach the selector.
	if err := c.Deregister(ctx, core.Instance{Service: "S", Addr: "tcp@127.0.0.1:2"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := sel.Select("")
		if err == nil && p.Instance.Addr == "tcp@127.0.0.1:1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("selector never saw the deregistration")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel() // ends Follow's goroutine
}

// countingApply counts the changes Follow hands an Incremental selector.
type countingApply struct {
	selector.Incremental
	mu      sync.Mutex
	applies int
}

func (c *countingApply) Apply(upserted, removed []core.Instance) {
	c.mu.Lock()
	c.applies++
	c.mu.Unlock()
	c.Incremental.Apply(upserted, removed)
}

// Follow hands an Incremental selector (consistent hash) each change, not
// the list; the ring it ends with picks as one built from the list at once.
func TestFollowAppliesChangesIncrementally(t *testing.T) {
	leaktest.Check(t)
	c, err := discovery.Open("inprocess://selector-follow-incremental")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addr := func(i int) string { return fmt.Sprintf("tcp@127.0.0.1:%d", i) }
	for i := 1; i <= 3; i++ {
		if err := c.Register(ctx, core.Instance{Service: "S", Addr: addr(i)}); err != nil {
			t.Fatal(err)
		}
	}
	sel := &countingApply{Incremental: selector.NewConsistentHash().(selector.Incremental)}
	if err := selector.Follow(ctx, c, "S", sel); err != nil {
		t.Fatal(err)
	}
	if err := c.Register(ctx, core.Instance{Service: "S", Addr: addr(4), Meta: core.Metadata{"weight": "2"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Deregister(ctx, core.Instance{Service: "S", Addr: addr(1)}); err != nil {
		t.Fatal(err)
	}
	want := selector.NewConsistentHash()
	list := []core.Instance{
		{Service: "S", Addr: addr(2), Meta: core.Metadata{}}, {Service: "S", Addr: addr(3), Meta: core.Metadata{}},
		{Service: "S", Addr: addr(4), Meta: core.Metadata{"weight": "2"}},
	}
	want.Update(list)
	deadline := time.Now().Add(5 * time.Second)
	for {
		same := true
		for k := range 200 {
			key := strconv.Itoa(k)
			a, errA := sel.Select(key)
			b, errB := want.Select(key)
			if errA != nil || errB != nil || a.Instance.Addr != b.Instance.Addr {
				same = false
				break
			}
		}
		if same {
			break
		}
		if time.Now().After(deadline) {
			got := map[string]int{}
			wnt := map[string]int{}
			for k := range 200 {
				a, _ := sel.Select(strconv.Itoa(k))
				b, _ := want.Select(strconv.Itoa(k))
				got[a.Instance.Addr]++
				wnt[b.Instance.Addr]++
			}
			t.Fatalf("the followed ring never matched one built from the list: %v vs %v (list %v)", got, wnt, list)
		}
		time.Sleep(5 * time.Millisecond)
	}
	sel.mu.Lock()
	defer sel.mu.Unlock()
	if sel.applies == 0 {
		t.Fatal("Follow never used Apply on an Incremental selector")
	}
}
