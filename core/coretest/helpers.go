package coretest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
)

// client is one registrar/discovery pair over its own driver.
type client struct {
	d   core.Driver
	reg core.Registrar
	dis core.Discovery
}

func (h Harness) newClient(t testing.TB) *client {
	t.Helper()
	return h.newClientWith(t, h.options())
}

func (h Harness) newClientWith(t testing.TB, o core.Options) *client {
	t.Helper()
	d := h.NewDriver(t)
	reg, err := core.NewRegistrar(d, o)
	if err != nil {
		t.Fatalf("NewRegistrar: %v", err)
	}
	dis, err := core.NewDiscovery(d, o)
	if err != nil {
		t.Fatalf("NewDiscovery: %v", err)
	}
	c := &client{d: d, reg: reg, dis: dis}
	t.Cleanup(c.close)
	return c
}

func (c *client) close() {
	c.dis.Close()
	c.reg.Close()
	c.d.Close()
}

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Addrs returns the addresses of a list, in order.
func Addrs(list []core.Instance) []string {
	out := make([]string, len(list))
	for i, in := range list {
		out[i] = in.Addr
	}
	return out
}

// HasAddrs accepts a list whose addresses are exactly want, in order.
func HasAddrs(want ...string) func([]core.Instance) bool {
	return func(l []core.Instance) bool { return slices.Equal(Addrs(l), want) }
}

// Next reads lists from ch until ok accepts one, and returns it; it fails
// the test if ch closes or the deadline passes first, showing what it saw.
func Next(t testing.TB, ch <-chan []core.Instance, within time.Duration, what string, ok func([]core.Instance) bool) []core.Instance {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	var seen [][]string
	for {
		select {
		case l, open := <-ch:
			if !open {
				t.Fatalf("watch closed while waiting for %s; saw %v", what, seen)
			}
			seen = append(seen, Addrs(l))
			if ok(l) {
				return l
			}
		case <-deadline.C:
			t.Fatalf("no list with %s within %v; saw %v", what, within, seen)
		}
	}
}

// Poll calls f until it returns nil and returns how long that took, failing
// the test with f's last error when the deadline passes. It polls with
// growing pauses; the deadline, not a sleep, decides.
func Poll(t testing.TB, within time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	wait := 2 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s not reached within %v: %v", what, within, err)
		}
		time.Sleep(wait)
		wait = min(wait*2, 50*time.Millisecond)
	}
}

// PollUntil is Poll for a condition with nothing to say when it fails.
func PollUntil(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	return Poll(t, within, what, func() error {
		if !cond() {
			return errors.New("condition still false")
		}
		return nil
	})
}

func instancesAre(ctx context.Context, dis core.Discovery, service string, want ...string) func() error {
	return func() error {
		l, err := dis.Instances(ctx, service)
		if err != nil {
			return err
		}
		if got := Addrs(l); !slices.Equal(got, want) {
			return fmt.Errorf("instances %v, want %v", got, want)
		}
		return nil
	}
}

func addr(i int) string { return fmt.Sprintf("tcp@127.0.0.1:%d", 20000+i) }

func inst(service string, i int, kv ...string) core.Instance {
	m := core.Metadata{}
	for j := 0; j+1 < len(kv); j += 2 {
		m[kv[j]] = kv[j+1]
	}
	return core.Instance{Service: service, Addr: addr(i), Meta: m}
}

func metaString(l []core.Instance) string {
	var b strings.Builder
	for _, in := range l {
		fmt.Fprintf(&b, "%s{%s} ", in.Addr, in.Meta.Encode())
	}
	return b.String()
}

// RegisterMany registers n instances, instance(0) to instance(n-1), from 64
// goroutines at once (one at a time would take minutes under -race; the
// store batches concurrent writes, so 64 in flight cost little more than 8), and
// fails t on the first error.
func RegisterMany(t testing.TB, ctx context.Context, reg core.Registrar, n int, instance func(i int) core.Instance) {
	t.Helper()
	const workers = 64
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := w; i < n; i += workers {
				if err := reg.Register(ctx, instance(i)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Context returns a context that ends after d or when the test ends.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// Must fails the test at once on a non-nil err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// RequestsPerInterval measures what a process's registrations cost the
// registry in steady state. count returns the registry's own running count
// of the requests it received, by kind. It waits (up to settle) for one
// refresh interval with at most limit requests, since the first refresh of
// a new registration may read; then it counts over four intervals and fails
// t if they averaged more than limit. It returns the average.
func RequestsPerInterval(t testing.TB, interval, settle time.Duration, limit int, count func() map[string]int) float64 {
	t.Helper()
	since := func(before map[string]int) (int, map[string]int) {
		by, total := count(), 0
		for k, v := range by {
			if by[k] = v - before[k]; by[k] == 0 {
				delete(by, k)
			}
			total += by[k]
		}
		return total, by
	}
	Poll(t, settle, "a refresh interval with the first refreshes over", func() error {
		before := count()
		time.Sleep(interval) // a measurement window, not synchronisation
		if got, by := since(before); got > limit {
			return fmt.Errorf("%d requests in one interval: %v", got, by)
		}
		return nil
	})
	const windows = 4
	start, before := time.Now(), count()
	time.Sleep(windows * interval) // the measurement window
	requests, by := since(before)
	elapsed := time.Since(start)
	perInterval := float64(requests) / (float64(elapsed) / float64(interval))
	t.Logf("%d requests in %v (%v): %.1f per refresh interval (%v)", requests, elapsed.Round(time.Millisecond), by, perInterval, interval)
	if perInterval > float64(limit) {
		t.Fatalf("%.1f requests per refresh interval, want at most %d", perInterval, limit)
	}
	return perInterval
}
