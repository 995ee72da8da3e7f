package selector_test

import (
	"context"
	"errors"
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
