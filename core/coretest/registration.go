package coretest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
)

// MetadataOrder checks that the writes of one registration are ordered:
// many metadata changes race with refreshes at a short interval (and with
// load metadata that moves all the time, so refreshes write whole records),
// and after the last Register returned, the store holds the last metadata
// set, and keeps holding it through further refreshes.
func MetadataOrder(t *testing.T, h Harness) {
	const instances, changes = 4, 60
	o := h.options()
	o.Interval = max(10*time.Millisecond, o.TTL/50)
	c := h.newClientWith(t, o)
	svc := h.service(t)

	stopLoad := make(chan struct{})
	var load sync.WaitGroup
	load.Go(func() { // tps moves all the time: refreshes are Puts, not KeepAlives
		for {
			select {
			case <-stopLoad:
				return
			default:
				c.reg.Meter().Mark()
				time.Sleep(time.Millisecond)
			}
		}
	})
	var wg sync.WaitGroup
	for i := range instances {
		wg.Go(func() {
			for v := range changes {
				ctx := ctxFor(t, h.settle())
				if v%3 == 1 && v != changes-1 {
					// Some changes do not wait at all: set, then written
					// later by the registration's loop.
					var cancel context.CancelFunc
					ctx, cancel = context.WithCancel(ctx)
					cancel()
				}
				err := c.reg.Register(ctx, inst(svc, i, "state", "active", "v", strconv.Itoa(v)))
				if err != nil && (ctx.Err() == nil || !errors.Is(err, core.ErrPending)) {
					t.Errorf("Register v=%d: %v", v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	want := strconv.Itoa(changes - 1)
	check := func() error {
		ctx := ctxFor(t, h.settle())
		l, err := c.d.List(ctx, svc)
		if err != nil {
			return err
		}
		if len(l) != instances {
			return fmt.Errorf("%d records, want %d: %s", len(l), instances, metaString(l))
		}
		for _, in := range l {
			if in.Meta["v"] != want {
				return fmt.Errorf("stored v=%q, want the last one set, %s: %s", in.Meta["v"], want, metaString(l))
			}
		}
		return nil
	}
	// Every last Register returned nil: its write is done, and any older
	// write was done before it.
	if err := check(); err != nil {
		t.Fatalf("right after the last Register: %v", err)
	}
	// Two more writes of every registration, and it still holds.
	mark := time.Now()
	Poll(t, h.settle(), "two more refreshes", func() error {
		for _, st := range c.reg.Status() {
			if !st.LastWrite.After(mark.Add(2 * o.Interval)) {
				return fmt.Errorf("%s last written %v", st.Addr, st.LastWrite)
			}
		}
		return nil
	})
	close(stopLoad)
	load.Wait()
	if err := check(); err != nil {
		t.Fatalf("after more refreshes: %v", err)
	}
}

// Outage makes the registry under test unreachable and reachable again
// (a fault proxy cut, a stopped server).
type Outage struct {
	Cut, Restore func(t testing.TB)
	// Longest is the longest timeout of the client involved (dial, session,
	// request); the outage lasts longer than it and than every core timeout.
	Longest time.Duration
	// Reconnect is the longest pause of the client's own reconnection loop
	// (gRPC's backoff cap for etcd), added to the backoff step allowed.
	Reconnect time.Duration
}

// StartDuringOutage starts a server while its registry is unreachable, for
// longer than every timeout involved: Register returns ErrPending at its
// deadline, the registration is kept and retried, and once the registry is
// reachable the server is listed within one backoff step (plus what the
// client needs to reconnect), exactly once.
func StartDuringOutage(t *testing.T, h Harness, out Outage) {
	o := h.options()
	o.BackoffCap = 500 * time.Millisecond
	svc := h.service(t)
	a := inst(svc, 1, "v", "1")

	out.Cut(t)
	start := time.Now()
	server := h.newClientWith(t, o)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := server.reg.Register(ctx, a)
	cancel()
	if !errors.Is(err, core.ErrPending) {
		t.Fatalf("Register during the outage = %v, want an error wrapping core.ErrPending", err)
	}
	t.Logf("Register during the outage: %v", err)
	if st := server.reg.Status(); len(st) != 1 || st[0].State != core.StateRetrying {
		t.Fatalf("status during the outage = %+v, want one registration retrying", st)
	}
	// The outage outlasts every timeout: the caller's, a write's (the
	// refresh interval), the TTL and the client's own.
	outage := max(out.Longest, o.TTL, 300*time.Millisecond) + o.BackoffCap
	time.Sleep(time.Until(start.Add(outage))) // the scenario: a long outage
	Poll(t, h.settle(), "a failed write recorded in the status", func() error {
		st := server.reg.Status()
		if len(st) != 1 || st[0].State != core.StateRetrying || st[0].LastError == "" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	out.Restore(t)
	reader := h.newClient(t)
	// One backoff step of core, one of the client's reconnection, and the
	// time a write takes to be listed on a loaded machine.
	took := Poll(t, o.BackoffCap+out.Reconnect+5*time.Second, "the server listed after the outage", func() error {
		l, err := reader.dis.Instances(ctxFor(t, h.settle()), svc)
		if err != nil {
			return err
		}
		if len(l) != 1 || l[0].Addr != a.Addr {
			return fmt.Errorf("instances %s", metaString(l))
		}
		return nil
	})
	t.Logf("listed %v after the registry came back (core's backoff cap %v, client reconnect %v)", took.Round(time.Millisecond), o.BackoffCap, out.Reconnect)
	st := server.reg.Status()
	if len(st) != 1 || st[0].State != core.StateRegistered || st[0].LastWrite.IsZero() {
		t.Fatalf("status after the outage = %+v, want registered", st)
	}
	// No duplicate record, also after the registration refreshed.
	mark := time.Now()
	Poll(t, h.settle()+o.Interval, "a refresh after the outage", func() error {
		if st := server.reg.Status(); !st[0].LastWrite.After(mark) {
			return fmt.Errorf("last write %v", st[0].LastWrite)
		}
		return nil
	})
	l, err := server.d.List(ctxFor(t, h.settle()), svc)
	if err != nil || len(l) != 1 {
		t.Fatalf("stored records after the outage = %s, %v; want exactly one", metaString(l), err)
	}
}

// CloseDuringOutage registers 20 instances, makes the registry unreachable
// and closes: the deletes run in parallel under one deregister_timeout, so
// Close returns well before two of them, and says it failed.
func CloseDuringOutage(t *testing.T, h Harness, out Outage) {
	o := h.options()
	o.DeregisterTimeout = time.Second
	d := h.NewDriver(t)
	defer d.Close()
	reg, err := core.NewRegistrar(d, o)
	if err != nil {
		t.Fatal(err)
	}
	svc := h.service(t)
	for i := range 20 {
		must(t, reg.Register(ctxFor(t, h.settle()), inst(svc, i)))
	}
	out.Cut(t)
	start := time.Now()
	err = reg.Close()
	took := time.Since(start)
	if err == nil {
		t.Fatal("Close reported no error although no delete was answered")
	}
	if took >= 2*o.DeregisterTimeout {
		t.Fatalf("Close of 20 registrations during an outage took %v; the bound is deregister_timeout %v as a whole", took, o.DeregisterTimeout)
	}
	t.Logf("Close of 20 registrations during an outage: %v (deregister_timeout %v)", took.Round(time.Millisecond), o.DeregisterTimeout)
}
