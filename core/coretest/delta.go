package coretest

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
)

// fullOnly hides a driver's DeltaWatcher, so core takes the full-list path.
type fullOnly struct{ core.Driver }

func (f fullOnly) Watch(ctx context.Context, service string) (core.Watcher, error) {
	w, err := f.Driver.Watch(ctx, service)
	if err != nil {
		return nil, err
	}
	return struct{ core.Watcher }{w}, nil
}

// hasDelta reports whether d's watchers implement core.DeltaWatcher.
func hasDelta(t testing.TB, d core.Driver, service string) bool {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := d.Watch(ctx, service)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	defer w.Close()
	_, ok := w.(core.DeltaWatcher)
	return ok
}

// latest keeps the newest value a channel delivered.
type latest[T any] struct {
	mu  sync.Mutex
	val T
	n   int
}

func follow[T any](ch <-chan T, each func(T)) *latest[T] {
	l := &latest[T]{}
	go func() {
		for v := range ch {
			if each != nil {
				each(v)
			}
			l.mu.Lock()
			l.val, l.n = v, l.n+1
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *latest[T]) get() (T, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.val, l.n
}

// testDeltaMatchesFull: random registrations, metadata changes and
// deregistrations; a Discovery on the delta path, one on the full-list path
// and a WatchChanges reader that applies each Update to its own state all
// end with the store's list. The reader's state must equal the Update's
// List at every step.
func testDeltaMatchesFull(t *testing.T, h Harness) {
	service := h.service(t)
	server := h.newClient(t)
	if !hasDelta(t, server.d, service) {
		t.Skip("this backend's watchers have no delta path")
	}
	o := h.options()
	dd := h.NewDriver(t)
	fd := h.NewDriver(t)
	delta, err := core.NewDiscovery(dd, o)
	must(t, err)
	full, err := core.NewDiscovery(fullOnly{fd}, o)
	must(t, err)
	t.Cleanup(func() { delta.Close(); full.Close(); dd.Close(); fd.Close() })

	ctx := ctxFor(t, 2*time.Minute)
	dl, err := delta.Watch(ctx, service, core.IncludeInactive())
	must(t, err)
	fl, err := full.Watch(ctx, service, core.IncludeInactive())
	must(t, err)
	ups, err := delta.WatchChanges(ctx, service) // inactive ones filtered out
	must(t, err)
	var errMu sync.Mutex
	var stateErr error
	state := map[string]core.Instance{}
	fromDelta := follow(dl, nil)
	fromFull := follow(fl, nil)
	fromUpdates := follow(ups, func(u core.Update) {
		if u.Reset {
			clear(state)
			for in := range u.List.All() {
				state[in.Addr] = in
			}
		}
		for _, in := range u.Upserted {
			state[in.Addr] = in
		}
		for _, in := range u.Removed {
			delete(state, in.Addr)
		}
		if got, want := describe(slices.Collect(maps.Values(state))), describe(u.List.Slice()); got != want {
			errMu.Lock()
			stateErr = cmpOr(stateErr, fmt.Errorf("state built from Updates %s, Update.List %s", got, want))
			errMu.Unlock()
		}
	})

	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	model := map[string]core.Instance{}
	for step := range 60 {
		i := rng.IntN(8)
		in := inst(service, i, "step", strconv.Itoa(step))
		switch r := rng.IntN(10); {
		case r < 2:
			in.Meta[core.MetaState] = core.StateInactive
			fallthrough
		case r < 6:
			must(t, server.reg.Register(ctx, in))
			model[in.Addr] = in
		default:
			must(t, server.reg.Deregister(ctx, in))
			delete(model, in.Addr)
		}
		if step%6 != 5 {
			continue
		}
		want := describe(slices.Collect(maps.Values(model)))
		var active []core.Instance
		for _, in := range model {
			if !in.Meta.Inactive() {
				active = append(active, in)
			}
		}
		wantActive := describe(active)
		Poll(t, h.settle(), fmt.Sprintf("step %d: every path lists %s", step, want), func() error {
			d, _ := fromDelta.get()
			f, _ := fromFull.get()
			u, n := fromUpdates.get()
			switch {
			case describe(d) != want:
				return fmt.Errorf("delta path has %s", describe(d))
			case describe(f) != want:
				return fmt.Errorf("full path has %s", describe(f))
			case n == 0 || describe(u.List.Slice()) != wantActive:
				return fmt.Errorf("WatchChanges has %d updates, the last %v", n, u.List)
			}
			return nil
		})
	}
	errMu.Lock()
	defer errMu.Unlock()
	if stateErr != nil {
		t.Fatal(stateErr)
	}
}

func cmpOr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// describe is a list's addresses and "step" values, sorted, for comparison.
func describe(l []core.Instance) string {
	parts := make([]string, 0, len(l))
	for _, in := range l {
		parts = append(parts, in.Addr+"="+in.Meta["step"]+in.Meta[core.MetaState])
	}
	slices.Sort(parts)
	return fmt.Sprint(parts)
}
