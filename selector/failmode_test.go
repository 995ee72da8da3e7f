package selector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
	"go.uber.org/goleak"
)

var errBoom = errors.New("boom")

// behaviour is what one attempt does.
type behaviour func(ctx context.Context) error

func fail(context.Context) error     { return errBoom }
func succeed(context.Context) error  { return nil }
func hang(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }

// script plays behaviours in call order (the last one repeats) and records
// the addresses called. Every call reports its end on exited, so tests can
// wait for goroutines started by Call.
type script struct {
	mu     sync.Mutex
	plan   []behaviour
	calls  []string
	exited chan string
}

func newScript(plan ...behaviour) *script {
	return &script{plan: plan, exited: make(chan string, 100)}
}

func (s *script) fn(ctx context.Context, inst core.Instance) error {
	s.mu.Lock()
	b := s.plan[min(len(s.calls), len(s.plan)-1)]
	s.calls = append(s.calls, inst.Addr)
	s.mu.Unlock()
	defer func() { s.exited <- inst.Addr }()
	return b(ctx)
}

func (s *script) called() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// waitExited waits until every started call has returned: no goroutine of
// Call outlives it.
func (s *script) waitExited(t *testing.T) {
	t.Helper()
	for range s.called() {
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			t.Fatal("a call started by Call never returned")
		}
	}
}

// balanced fails if some Pick was not given back exactly once.
func balanced(t *testing.T, s Selector) {
	t.Helper()
	if p, ok := s.(*p2c); ok {
		if snap := p.snap.Load(); snap != nil {
			for i, n := range snap.nodes {
				if got := n.inflight.Load(); got != 0 {
					t.Fatalf("node %d: in-flight %d after Call, want 0 (Done missing or repeated)", i, got)
				}
			}
		}
	}
}

func distinct(addrs []string) bool {
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			return false
		}
		seen[a] = true
	}
	return true
}

func TestFailModeString(t *testing.T) {
	for m, want := range map[FailMode]string{Failover: "failover", Failfast: "failfast", Failtry: "failtry", Failbackup: "failbackup", 9: "FailMode(9)"} {
		if m.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(m), m.String(), want)
		}
	}
}

func TestCallRetries(t *testing.T) {
	biz := Business(fmt.Errorf("no such user: %w", errBoom))
	tests := []struct {
		name      string
		opts      CallOptions
		n         int // instances
		plan      []behaviour
		wantErr   error // nil: success; checked with errors.Is
		wantCalls int
		check     func(t *testing.T, calls []string)
	}{
		{"failfast fails once", CallOptions{Mode: Failfast}, 4, []behaviour{fail}, errBoom, 1, nil},
		{"failfast succeeds", CallOptions{Mode: Failfast}, 4, []behaviour{succeed}, nil, 1, nil},
		{"failover tries others", CallOptions{}, 4, []behaviour{fail}, errBoom, 4, func(t *testing.T, c []string) {
			if !distinct(c) {
				t.Errorf("failover repeated an instance while others were untried: %v", c)
			}
		}},
		{"failover recovers", CallOptions{}, 4, []behaviour{fail, fail, succeed}, nil, 3, func(t *testing.T, c []string) {
			if !distinct(c) {
				t.Errorf("calls %v", c)
			}
		}},
		{"failover retries 1", CallOptions{Retries: 1}, 4, []behaviour{fail}, errBoom, 2, nil},
		{"failover retries none", CallOptions{Retries: -1}, 4, []behaviour{fail}, errBoom, 1, nil},
		{"failover fewer instances than tries", CallOptions{}, 2, []behaviour{fail}, errBoom, 4, func(t *testing.T, c []string) {
			if c[0] == c[1] {
				t.Errorf("second attempt repeated the first instance: %v", c)
			}
		}},
		{"failtry same instance", CallOptions{Mode: Failtry}, 4, []behaviour{fail}, errBoom, 4, func(t *testing.T, c []string) {
			for _, a := range c {
				if a != c[0] {
					t.Errorf("failtry moved: %v", c)
				}
			}
		}},
		{"failtry recovers", CallOptions{Mode: Failtry, Retries: 5}, 4, []behaviour{fail, succeed}, nil, 2, nil},
		{"business not retried (failover)", CallOptions{}, 4, []behaviour{func(context.Context) error { return biz }}, biz, 1, nil},
		{"business not retried (failtry)", CallOptions{Mode: Failtry}, 4, []behaviour{fail, func(context.Context) error { return biz }}, biz, 2, nil},
		{"business not retried (failbackup)", CallOptions{Mode: Failbackup}, 4, []behaviour{func(context.Context) error { return biz }}, biz, 1, nil},
		{"no instances (failover)", CallOptions{}, 0, []behaviour{succeed}, ErrNoInstances, 0, nil},
		{"no instances (failtry)", CallOptions{Mode: Failtry}, 0, []behaviour{succeed}, ErrNoInstances, 0, nil},
		{"no instances (failfast)", CallOptions{Mode: Failfast}, 0, []behaviour{succeed}, ErrNoInstances, 0, nil},
		{"no instances (failbackup)", CallOptions{Mode: Failbackup}, 0, []behaviour{succeed}, ErrNoInstances, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewP2C()
			s.Update(instances(tc.n, nil))
			sc := newScript(tc.plan...)
			if tc.opts.Backoff == 0 {
				tc.opts.Backoff = -1 // no waiting in tests; backoff has its own test
			}
			err := Call(context.Background(), s, tc.opts, sc.fn)
			sc.waitExited(t)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("Call: %v", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("Call: err = %v, want it to wrap %v", err, tc.wantErr)
			}
			if IsBusiness(tc.wantErr) && err != tc.wantErr {
				t.Fatalf("business error returned as %v, want it as is", err)
			}
			calls := sc.called()
			if len(calls) != tc.wantCalls {
				t.Fatalf("%d calls %v, want %d", len(calls), calls, tc.wantCalls)
			}
			if tc.check != nil {
				tc.check(t, calls)
			}
			balanced(t, s)
		})
	}
}

func TestCallContext(t *testing.T) {
	for _, mode := range []FailMode{Failover, Failfast, Failtry, Failbackup} {
		t.Run(mode.String()+"/done before", func(t *testing.T) {
			s := NewP2C()
			s.Update(instances(3, nil))
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			sc := newScript(succeed)
			err := Call(ctx, s, CallOptions{Mode: mode}, sc.fn)
			if !errors.Is(err, context.Canceled) || len(sc.called()) != 0 {
				t.Fatalf("err = %v after %d calls; want context.Canceled, no call", err, len(sc.called()))
			}
			balanced(t, s)
		})
		t.Run(mode.String()+"/done during", func(t *testing.T) {
			s := NewP2C()
			s.Update(instances(3, nil))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sc := newScript(func(context.Context) error { cancel(); return errBoom })
			err := Call(ctx, s, CallOptions{Mode: mode, BackupDelay: time.Hour}, sc.fn)
			sc.waitExited(t)
			if !errors.Is(err, context.Canceled) && !errors.Is(err, errBoom) {
				t.Fatalf("err = %v", err)
			}
			if n := len(sc.called()); n != 1 {
				t.Fatalf("%d calls after the context was cancelled", n)
			}
			balanced(t, s)
		})
	}
	t.Run("backoff wait is cut short", func(t *testing.T) {
		s := NewRoundRobin()
		s.Update(instances(3, nil))
		ctx, cancel := context.WithCancel(context.Background())
		sc := newScript(func(context.Context) error { cancel(); return errBoom })
		err := Call(ctx, s, CallOptions{Backoff: time.Hour}, sc.fn)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errBoom) || len(sc.called()) != 1 {
			t.Fatalf("err = %v after %d calls", err, len(sc.called()))
		}
	})
}

func TestCallBackoff(t *testing.T) {
	s := NewRoundRobin()
	s.Update(instances(3, nil))
	sc := newScript(fail)
	// Real, small waits; only the outcome is checked, not the timing.
	err := Call(context.Background(), s, CallOptions{Backoff: time.Millisecond}, sc.fn)
	if !errors.Is(err, errBoom) || len(sc.called()) != 4 {
		t.Fatalf("err = %v after %d calls", err, len(sc.called()))
	}
	// The delays themselves are core.Backoff's, tested in core.
}

// Failover on a consistent hash moves on in the same order in every process.
func TestCallFailoverKeyed(t *testing.T) {
	run := func() []string {
		s := NewConsistentHash()
		s.Update(instances(10, nil))
		sc := newScript(fail)
		if err := Call(context.Background(), s, CallOptions{Key: "user-1", Backoff: -1}, sc.fn); !errors.Is(err, errBoom) {
			t.Fatalf("err = %v", err)
		}
		return sc.called()
	}
	a, b := run(), run()
	if !slices.Equal(a, b) || !distinct(a) || len(a) != 4 {
		t.Fatalf("attempts %v then %v: want the same 4 distinct instances", a, b)
	}
	s := NewConsistentHash()
	s.Update(instances(10, nil))
	if p, _ := s.Select("user-1"); p.Instance.Addr != a[0] {
		t.Fatalf("first attempt on %s, the key maps to %s", a[0], p.Instance.Addr)
	}
}

func TestCallFailbackup(t *testing.T) {
	tests := []struct {
		name      string
		n         int
		delay     time.Duration
		plan      []behaviour
		wantErr   error
		wantCalls int
	}{
		{"first answers in time", 3, time.Hour, []behaviour{succeed}, nil, 1},
		{"first hangs, backup wins", 3, time.Millisecond, []behaviour{hang, succeed}, nil, 2},
		{"first fails, backup at once", 3, time.Hour, []behaviour{fail, succeed}, nil, 2},
		{"both fail", 3, time.Hour, []behaviour{fail}, errBoom, 2},
		{"hung first fails after backup fails", 3, time.Millisecond, []behaviour{
			func(ctx context.Context) error { time.Sleep(5 * time.Millisecond); return errBoom }, fail,
		}, errBoom, 2},
		{"one instance: no backup", 1, -1, []behaviour{succeed}, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			s := NewP2C()
			s.Update(instances(tc.n, nil))
			sc := newScript(tc.plan...)
			err := Call(context.Background(), s, CallOptions{Mode: Failbackup, BackupDelay: tc.delay}, sc.fn)
			sc.waitExited(t) // the loser's context was cancelled: it returns
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			calls := sc.called()
			if len(calls) != tc.wantCalls || !distinct(calls) {
				t.Fatalf("calls %v, want %d on distinct instances", calls, tc.wantCalls)
			}
			balanced(t, s)
		})
	}

	t.Run("context done while both hang", func(t *testing.T) {
		defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
		s := NewRoundRobin()
		s.Update(instances(3, nil))
		ctx, cancel := context.WithCancel(context.Background())
		started := make(chan struct{}, 2)
		sc := newScript(func(ctx context.Context) error { started <- struct{}{}; return hang(ctx) })
		go func() { <-started; <-started; cancel() }()
		err := Call(ctx, s, CallOptions{Mode: Failbackup, BackupDelay: time.Millisecond}, sc.fn)
		sc.waitExited(t)
		if !errors.Is(err, context.Canceled) || len(sc.called()) != 2 {
			t.Fatalf("err = %v after %d calls", err, len(sc.called()))
		}
	})
}

func TestCallInvalid(t *testing.T) {
	s := NewRandom()
	s.Update(instances(1, nil))
	if err := Call(context.Background(), nil, CallOptions{}, newScript(succeed).fn); err == nil {
		t.Error("nil Selector accepted")
	}
	if err := Call(context.Background(), s, CallOptions{}, nil); err == nil {
		t.Error("nil function accepted")
	}
	if err := Call(context.Background(), s, CallOptions{Mode: 42}, newScript(succeed).fn); err == nil || !strings.Contains(err.Error(), "Failover, Failfast") {
		t.Errorf("unknown mode: err = %v", err)
	}
}

func TestBusiness(t *testing.T) {
	if Business(nil) != nil {
		t.Error("Business(nil) != nil")
	}
	inner := &pathErr{"x"}
	b := Business(fmt.Errorf("wrapped: %w", inner))
	var pe *pathErr
	if !IsBusiness(b) || !errors.As(b, &pe) || pe != inner || !errors.Is(b, inner) {
		t.Error("Business hides the wrapped error")
	}
	if b.Error() != "wrapped: x" {
		t.Errorf("Error() = %q", b.Error())
	}
	if !IsBusiness(fmt.Errorf("outer: %w", b)) {
		t.Error("IsBusiness does not see through wrapping")
	}
	if IsBusiness(errBoom) || IsBusiness(nil) {
		t.Error("plain error reported as business")
	}
}

type pathErr struct{ s string }

func (e *pathErr) Error() string { return e.s }
