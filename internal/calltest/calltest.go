// Package calltest checks that calls through discovery keep flowing while a
// test breaks the registry: servers that answer on loopback, and a caller
// that follows a service with a selector and calls it through selector.Call
// in a loop, counting every failed call and every list a subscriber got
// with fewer instances than expected.
package calltest

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/selector"
)

// Servers starts n TCP servers on loopback that answer every connection
// with one byte, and returns their addresses as tcp@127.0.0.1:port. They
// stop when the test ends.
func Servers(t testing.TB, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte{'k'})
				c.Close()
			}
		}()
		t.Cleanup(func() { ln.Close(); wg.Wait() })
		addrs = append(addrs, "tcp@"+ln.Addr().String())
	}
	return addrs
}

// Call reaches inst: it connects and reads the server's byte.
func Call(ctx context.Context, inst core.Instance) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", inst.HostPort())
	if err != nil {
		return err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	_, err = c.Read(make([]byte, 1))
	return err
}

// Flow is a caller running against a service.
type Flow struct {
	t       testing.TB
	want    int
	cancel  context.CancelFunc
	done    sync.WaitGroup
	calls   atomic.Int64
	failed  atomic.Int64
	short   atomic.Int64 // lists with fewer than want instances
	mu      sync.Mutex
	lastErr error
	worst   []string // the shortest list a subscriber got
}

// Start follows service on dis with a round-robin selector, waits for a
// list of want instances, then calls through selector.Call (default
// options: failover) every few milliseconds until Stop. Each list the
// subscriber gets after that with fewer than want instances is counted.
func Start(t testing.TB, dis core.Discovery, service string, want int) *Flow {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &Flow{t: t, want: want, cancel: cancel}
	t.Cleanup(f.stop)
	ch, err := dis.Watch(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	sel := selector.NewRoundRobin()
	deadline := time.After(30 * time.Second)
	for full := false; !full; {
		select {
		case l := <-ch:
			sel.Update(l)
			full = len(l) >= want
		case <-deadline:
			t.Fatalf("calltest: %s never listed %d instances", service, want)
		}
	}
	f.done.Add(2)
	go func() {
		defer f.done.Done()
		for l := range ch {
			sel.Update(l)
			if len(l) < want {
				f.short.Add(1)
				f.mu.Lock()
				if f.worst == nil || len(l) < len(f.worst) {
					f.worst = addrs(l)
				}
				f.mu.Unlock()
			}
		}
	}()
	go func() {
		defer f.done.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
			err := selector.Call(cctx, sel, selector.CallOptions{}, Call)
			ccancel()
			if ctx.Err() != nil {
				return
			}
			f.calls.Add(1)
			if err != nil {
				f.failed.Add(1)
				f.mu.Lock()
				f.lastErr = err
				f.mu.Unlock()
			}
		}
	}()
	return f
}

func (f *Flow) stop() {
	f.cancel()
	f.done.Wait()
}

// Counts ends the caller and returns how many calls it made, how many
// failed, and how many lists were shorter than expected, asserting nothing.
func (f *Flow) Counts() (calls, failed, short int64) {
	f.t.Helper()
	f.stop()
	calls, failed, short = f.calls.Load(), f.failed.Load(), f.short.Load()
	f.t.Logf("calltest: %d calls, %d failed; %d lists shorter than %d", calls, failed, short, f.want)
	return calls, failed, short
}

// Stop ends the caller and fails the test if a call failed or a subscriber
// got a short list; it returns how many calls were made.
func (f *Flow) Stop() int64 {
	f.t.Helper()
	calls, failed, short := f.Counts()
	if failed > 0 {
		f.t.Errorf("%d of %d calls failed; last: %v", failed, calls, f.lastErr)
	}
	if short > 0 {
		f.t.Errorf("subscribers got %d lists with fewer than %d instances, the shortest %v", short, f.want, f.worst)
	}
	if calls == 0 {
		f.t.Errorf("no call was made")
	}
	return calls
}

func addrs(l []core.Instance) []string {
	out := make([]string, len(l))
	for i, in := range l {
		out[i] = in.Addr
	}
	return out
}
