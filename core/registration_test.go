package core_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/inprocess"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

// faultyDriver is an inprocess driver whose store refuses some records as
// invalid, or stops answering (a black-holed registry: calls wait for their
// deadline) while hang is set.
type faultyDriver struct {
	core.Driver
	refuse func(core.Instance) bool
	gate   chan struct{} // when set, a refusal waits for it to close
	hang   *atomic.Bool  // nil: never hangs
}

func (f *faultyDriver) Put(ctx context.Context, inst core.Instance, ttl time.Duration) error {
	if f.refuse != nil && f.refuse(inst) {
		if f.gate != nil {
			<-f.gate
		}
		return fmt.Errorf("%w: the store refuses %s", core.ErrInvalid, inst.Addr)
	}
	if f.hang != nil && f.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.Driver.Put(ctx, inst, ttl)
}

func (f *faultyDriver) Delete(ctx context.Context, inst core.Instance) error {
	if f.hang != nil && f.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.Driver.Delete(ctx, inst)
}

func statusOf(t *testing.T, reg core.Registrar, addr string) core.RegistrationStatus {
	t.Helper()
	for _, st := range reg.Status() {
		if st.Addr == addr {
			return st
		}
	}
	t.Fatalf("no status for %s in %+v", addr, reg.Status())
	return core.RegistrationStatus{}
}

// A Register whose context ends before the store answers returns ErrPending
// and the registration is kept: it is written as soon as the store is back,
// without anyone calling Register again.
func TestRegisterPendingIsKept(t *testing.T) {
	leakCheck(t)
	name := storeName()
	reg, _ := newPair(t, name)
	store := inprocess.Lookup(name)
	store.SetDown(true)
	a := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:1"}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := reg.Register(ctx, a)
	if !errors.Is(err, core.ErrPending) {
		t.Fatalf("Register against a down store = %v, want ErrPending", err)
	}
	st := statusOf(t, reg, a.Addr)
	if st.State != core.StateRetrying || st.LastError == "" || !st.LastWrite.IsZero() {
		t.Fatalf("status while pending = %+v", st)
	}
	store.SetDown(false)
	coretest.Poll(t, 5*time.Second, "the pending registration written", func() error {
		if n := len(store.Instances("svc")); n != 1 {
			return fmt.Errorf("%d records", n)
		}
		if st := statusOf(t, reg, a.Addr); st.State != core.StateRegistered || st.LastError != "" || st.LastWrite.IsZero() {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	// A waiting Register returns nil once written.
	if err := reg.Register(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

// A record the store refuses as invalid is not retried and not kept.
func TestRegisterRefused(t *testing.T) {
	leakCheck(t)
	d := &faultyDriver{Driver: inprocess.Open(storeName()), refuse: func(i core.Instance) bool { return i.Meta["size"] == "huge" }}
	reg, err := core.NewRegistrar(d, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	defer reg.Close()
	bad := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:1", Meta: core.Metadata{"size": "huge"}}
	err = reg.Register(context.Background(), bad)
	if !errors.Is(err, core.ErrInvalid) || errors.Is(err, core.ErrPending) {
		t.Fatalf("Register of a refused record = %v, want ErrInvalid", err)
	}
	if st := reg.Status(); len(st) != 0 {
		t.Fatalf("a refused registration was kept: %+v", st)
	}
	// Refused in the background (the caller did not wait): reported as such.
	gate := make(chan struct{})
	d.gate = gate
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := reg.Register(ctx, bad); !errors.Is(err, core.ErrPending) {
		t.Fatalf("Register with an ended context = %v, want ErrPending", err)
	}
	close(gate)
	coretest.Poll(t, 5*time.Second, "the refusal in the status", func() error {
		if st := reg.Status(); len(st) != 1 || st[0].State != core.StateRefused || st[0].LastError == "" {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	// Registering it again with acceptable metadata starts over.
	if err := reg.Register(context.Background(), core.Instance{Service: "svc", Addr: bad.Addr}); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, reg, bad.Addr); st.State != core.StateRegistered {
		t.Fatalf("status after a good Register = %+v", st)
	}
}

// Close deletes in parallel under one deregister_timeout: 20 registrations
// against a registry that stopped answering cost one timeout, not twenty.
func TestCloseIsBoundedAsAWhole(t *testing.T) {
	leakCheck(t)
	name := storeName()
	var hang atomic.Bool
	coretest.CloseDuringOutage(t, coretest.Harness{
		NewDriver: func(testing.TB) core.Driver {
			d := &faultyDriver{Driver: inprocess.Open(name)}
			d.hang = &hang
			return d
		},
		TTL: fastOptions().TTL,
	}, coretest.Outage{Cut: func(testing.TB) { hang.Store(true) }, Restore: func(testing.TB) { hang.Store(false) }})
}

// Deregister of a registration still pending stops its retries.
func TestDeregisterPending(t *testing.T) {
	leakCheck(t)
	name := storeName()
	reg, _ := newPair(t, name)
	store := inprocess.Lookup(name)
	store.SetDown(true)
	a := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:1"}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := reg.Register(ctx, a); !errors.Is(err, core.ErrPending) {
		t.Fatalf("Register = %v, want ErrPending", err)
	}
	store.SetDown(false)
	if err := reg.Deregister(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if st := reg.Status(); len(st) != 0 {
		t.Fatalf("status after Deregister = %+v", st)
	}
	if n := len(store.Instances("svc")); n != 0 {
		t.Fatalf("%d records after Deregister", n)
	}
}

// contendedDriver is an inprocess driver with a PutIf that never finds the
// record as expected: someone rewrites it, drained, before every attempt.
type contendedDriver struct {
	core.Driver
	tries atomic.Int32
}

func (c *contendedDriver) PutIf(ctx context.Context, inst core.Instance, ttl time.Duration, prev *core.Instance) (core.Instance, bool, bool, error) {
	n := c.tries.Add(1)
	stored := core.Instance{Service: inst.Service, Addr: inst.Addr,
		Meta: core.Metadata{"rev": fmt.Sprint(n), core.MetaState: core.StateInactive, core.MetaDrain: core.DrainOperator}}
	if err := c.Driver.Put(ctx, stored, ttl); err != nil {
		return core.Instance{}, false, false, err
	}
	return stored, true, false, nil
}

// A record that changes under every compare-and-write is written after a
// bounded number of attempts, the way a driver without PutIf writes it,
// with the operator's drain it saw kept.
func TestConditionalPutGivesWayUnderContention(t *testing.T) {
	leakCheck(t)
	d := &contendedDriver{Driver: inprocess.Open(storeName())}
	opts := fastOptions()
	opts.TTL = time.Minute // no refresh while the test looks
	reg, err := core.NewRegistrar(d, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	inst := core.Instance{Service: "svc", Addr: "tcp@10.0.0.1:1", Meta: core.Metadata{"weight": "3"}}
	if err := reg.Register(coretest.Context(t, 10*time.Second), inst); err != nil {
		t.Fatal(err)
	}
	if n := d.tries.Load(); n != 3 {
		t.Fatalf("%d conditional attempts, want 3 before giving way", n)
	}
	list, err := d.List(t.Context(), "svc")
	if err != nil || len(list) != 1 {
		t.Fatalf("stored %v %v", list, err)
	}
	if m := list[0].Meta; m["weight"] != "3" || m["rev"] != "" || !m.Inactive() || m[core.MetaDrain] != core.DrainOperator {
		t.Fatalf("stored metadata %v, want the registration's, drained as the operator left it", m)
	}
}
