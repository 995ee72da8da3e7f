package core_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/inprocess"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/proctest"
)

// cutStreams wraps a real driver; each watch delivers, stays up for life,
// then breaks, like a proxy that cuts long-lived streams on a timer.
type cutStreams struct {
	core.Driver
	life time.Duration

	mu     sync.Mutex
	opens  []time.Time
	breaks []time.Time
}

func (c *cutStreams) Watch(ctx context.Context, service string) (core.Watcher, error) {
	c.mu.Lock()
	c.opens = append(c.opens, time.Now())
	c.mu.Unlock()
	w, err := c.Driver.Watch(ctx, service)
	if err != nil {
		return nil, err
	}
	return &cutWatcher{Watcher: w, c: c}, nil
}

type cutWatcher struct {
	core.Watcher
	c      *cutStreams
	served bool
}

func (w *cutWatcher) Next(ctx context.Context) ([]core.Instance, error) {
	if !w.served {
		w.served = true
		return w.Watcher.Next(ctx)
	}
	t := time.NewTimer(w.c.life) // the stream's life, as the proxy allows it
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	w.c.mu.Lock()
	w.c.breaks = append(w.c.breaks, time.Now())
	w.c.mu.Unlock()
	return nil, errors.New("stream cut by the proxy")
}

// A watch that delivered and then lived a while resets the backoff, however
// short its life compared with the backoff cap: the delay before each reopen
// stays at the base instead of doubling towards the cap.
func TestWatchBackoffResetsAfterDelivery(t *testing.T) {
	leakCheck(t)
	name := storeName()
	d := &cutStreams{Driver: inprocess.Open(name), life: 60 * time.Millisecond}
	defer d.Close()
	dis, err := core.NewDiscovery(d, core.Options{BackoffBase: 20 * time.Millisecond, BackoffCap: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer dis.Close()
	if _, err := dis.Watch(t.Context(), "svc"); err != nil {
		t.Fatal(err)
	}
	const reopens = 10
	// Without the reset the 9th delay alone is 2.5-5 s.
	coretest.Poll(t, 30*time.Second, "10 reopens", func() error {
		d.mu.Lock()
		defer d.mu.Unlock()
		if len(d.opens) <= reopens {
			return errors.New("not yet")
		}
		return nil
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range reopens {
		gap := d.opens[i+1].Sub(d.breaks[i])
		if gap > time.Second { // base 20 ms; the cap is 10 s
			t.Fatalf("reopen %d came %v after the stream was cut: backoff was not reset by a healthy watch", i+1, gap)
		}
	}
}

// watchFour stores four instances and watches them with self-preservation
// at one half.
func watchFour(t *testing.T, name string, hold time.Duration, log *slog.Logger) (core.Discovery, <-chan []core.Instance) {
	t.Helper()
	o := fastOptions()
	o.SelfPreservation, o.SelfPreservationHold, o.Logger = 0.5, hold, log
	d := inprocess.Open(name)
	dis, err := core.NewDiscovery(d, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dis.Close(); d.Close() })
	putAll(t, name, four...)
	ch, err := dis.Watch(t.Context(), "svc")
	if err != nil {
		t.Fatal(err)
	}
	waitList(t, ch, 5*time.Second, four...)
	return dis, ch
}

func putAll(t *testing.T, name string, addrs ...string) {
	t.Helper()
	d := inprocess.Open(name)
	defer d.Close()
	for _, a := range addrs {
		if err := d.Put(context.Background(), core.Instance{Service: "svc", Addr: a}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
}

func watchStatusOf(dis core.Discovery, service string) core.ServiceStatus {
	for _, s := range dis.WatchStatus() {
		if s.Service == service {
			return s
		}
	}
	return core.ServiceStatus{}
}

func pollStatus(t *testing.T, dis core.Discovery, what string, ok func(core.ServiceStatus) bool) core.ServiceStatus {
	t.Helper()
	var st core.ServiceStatus
	coretest.Poll(t, 5*time.Second, what, func() error {
		if st = watchStatusOf(dis, "svc"); !ok(st) {
			return errors.New("status is " + string(st.State))
		}
		return nil
	})
	return st
}

// newest drains ch and returns the last list in it, if any; none may have
// lost more than half of four.
func newest(t *testing.T, ch <-chan []core.Instance) ([]core.Instance, bool) {
	t.Helper()
	var l []core.Instance
	for n := 0; ; n++ {
		select {
		case l = <-ch:
			if len(l) < 2 {
				t.Fatalf("a list that lost more than half was delivered: %v", coretest.Addrs(l))
			}
		default:
			return l, n > 0
		}
	}
}

func noNewList(t *testing.T, ch <-chan []core.Instance, why string) {
	t.Helper()
	select {
	case l := <-ch:
		t.Fatalf("%s, but the subscriber got %v", why, coretest.Addrs(l))
	default:
	}
}

var four = []string{"tcp@127.0.0.1:1", "tcp@127.0.0.1:2", "tcp@127.0.0.1:3", "tcp@127.0.0.1:4"}

// A store that loses every record at once (what a session storm does) is
// held back: subscribers keep their list, status says so, and when the
// records come back the hold ends without the loss ever being delivered. A
// loss below the threshold goes through at once.
func TestSelfPreservationHoldsMassLoss(t *testing.T) {
	leakCheck(t)
	name := storeName()
	var logs proctest.Buffer
	dis, ch := watchFour(t, name, time.Hour, slog.New(slog.NewTextHandler(&logs, nil)))

	store := inprocess.Lookup(name)
	for _, a := range four { // one store event each, as sessions expire
		store.Remove("svc", a)
	}
	st := pollStatus(t, dis, "self-preservation holding", func(s core.ServiceStatus) bool { return s.Preserving })
	if st.Holds != 1 || st.Instances != 4 {
		t.Fatalf("status while holding: %+v, want 1 hold and the 4 instances of the baseline", st)
	}
	// Removals up to half may have gone through one by one; the hold then
	// gave the subscriber the baseline back. Or the watch saw all four at
	// once and the subscriber got nothing new.
	if l, got := newest(t, ch); got && len(l) != 4 {
		t.Fatalf("the subscriber has %v while holding, want the 4 of the baseline", coretest.Addrs(l))
	}
	if l, err := dis.Instances(t.Context(), "svc"); err != nil || len(l) != 4 {
		t.Fatalf("Instances while holding: %v %v, want the 4 kept", coretest.Addrs(l), err)
	}
	if !strings.Contains(logs.String(), "self-preservation") {
		t.Fatalf("the hold was not logged: %s", logs.String())
	}

	putAll(t, name, four...) // the servers write their records again, one by one
	pollStatus(t, dis, "hold ended", func(s core.ServiceStatus) bool { return !s.Preserving })
	// The hold ends once no more than half is missing: the subscriber may
	// see 2 or 3 on the way back, never fewer.
	coretest.Poll(t, 5*time.Second, "4 instances back", func() error {
		if st := watchStatusOf(dis, "svc"); st.Instances != 4 {
			return errors.New("not yet")
		}
		return nil
	})
	for len(ch) > 0 {
		if l := <-ch; len(l) < 2 {
			t.Fatalf("a list that lost more than half was delivered: %v", coretest.Addrs(l))
		}
	}

	store.Remove("svc", four[0]) // 25%: a normal change
	waitList(t, ch, 5*time.Second, four[1:]...)
	if st := watchStatusOf(dis, "svc"); st.Holds != 1 || st.Preserving {
		t.Fatalf("a 25%% loss was held: %+v", st)
	}
}

// A loss spread over several store events counts as one: the baseline is
// the largest list of the last hold, not the previous event, and the hold
// gives it back.
func TestSelfPreservationSeesGradualLoss(t *testing.T) {
	leakCheck(t)
	name := storeName()
	dis, ch := watchFour(t, name, time.Hour, slog.New(slog.DiscardHandler))
	store := inprocess.Lookup(name)
	store.Remove("svc", four[0])
	waitList(t, ch, 5*time.Second, four[1:]...)
	store.Remove("svc", four[1]) // 2 of 4 lost: not more than half
	waitList(t, ch, 5*time.Second, four[2:]...)
	store.Remove("svc", four[2]) // 3 of 4: held, though only 1 of 2 of the last list
	pollStatus(t, dis, "holding", func(s core.ServiceStatus) bool { return s.Preserving })
	waitList(t, ch, 5*time.Second, four...) // the baseline, given back
}

// A real scale-down is delayed by the hold, not lost: after it the smaller
// list is published.
func TestSelfPreservationLetsScaleDownThrough(t *testing.T) {
	leakCheck(t)
	name := storeName()
	const hold = 300 * time.Millisecond
	dis, ch := watchFour(t, name, hold, slog.New(slog.DiscardHandler))
	store := inprocess.Lookup(name)
	removed := time.Now()
	for _, a := range four[1:] {
		store.Remove("svc", a)
	}
	waitList(t, ch, 10*time.Second, four[0])
	if took := time.Since(removed); took < hold {
		t.Fatalf("the scale-down was published after %v, before the %v hold", took, hold)
	}
	if st := watchStatusOf(dis, "svc"); st.Preserving || st.Holds != 1 || st.Instances != 1 {
		t.Fatalf("status after the hold: %+v", st)
	}
}

func TestSelfPreservationOptions(t *testing.T) {
	for _, o := range []core.Options{
		{SelfPreservation: 1},
		{SelfPreservation: -0.1},
		{SelfPreservationHold: time.Minute},
		{SelfPreservation: 0.5, SelfPreservationHold: -time.Second},
	} {
		if _, err := core.NewDiscovery(inprocess.Open(storeName()), o); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%+v: err = %v, want ErrInvalid", o, err)
		}
	}
}

// A user filter that panics loses only the instances it panicked on; the
// shared watch and other subscribers go on.
func TestPanickingFilterIsIsolated(t *testing.T) {
	leakCheck(t)
	name := storeName()
	var logs proctest.Buffer
	o := fastOptions()
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	d := inprocess.Open(name)
	defer d.Close()
	dis, err := core.NewDiscovery(d, o)
	if err != nil {
		t.Fatal(err)
	}
	defer dis.Close()
	putAll(t, name, four[:2]...)
	panicky := core.WithFilter(func(i core.Instance) bool {
		if i.Addr == four[1] {
			panic("filter bug")
		}
		return true
	})
	bad, err := dis.Watch(t.Context(), "svc", panicky)
	if err != nil {
		t.Fatal(err)
	}
	good, err := dis.Watch(t.Context(), "svc")
	if err != nil {
		t.Fatal(err)
	}
	waitList(t, bad, 5*time.Second, four[0])
	waitList(t, good, 5*time.Second, four[:2]...)
	putAll(t, name, four[2])
	waitList(t, bad, 5*time.Second, four[0], four[2])
	waitList(t, good, 5*time.Second, four[:3]...)
	if l, err := dis.Instances(t.Context(), "svc", panicky); err != nil || len(l) != 2 {
		t.Fatalf("Instances with a panicking filter: %v %v", coretest.Addrs(l), err)
	}
	if !strings.Contains(logs.String(), "filter bug") {
		t.Fatalf("the panic was not logged: %s", logs.String())
	}
}

// A user filter that blocks stalls only its own subscriber: the others get
// every change meanwhile, and the blocked one gets the newest list once its
// filter returns.
func TestBlockingFilterStallsOnlyItsSubscriber(t *testing.T) {
	leakCheck(t)
	name := storeName()
	_, dis := newPair(t, name)
	putAll(t, name, four[0])
	release := make(chan struct{})
	var blocking sync.Once
	var block bool
	var mu sync.Mutex
	slow, err := dis.Watch(t.Context(), "svc", core.WithFilter(func(core.Instance) bool {
		mu.Lock()
		b := block
		mu.Unlock()
		if b {
			<-release
		}
		return true
	}))
	if err != nil {
		t.Fatal(err)
	}
	fast, err := dis.Watch(t.Context(), "svc")
	if err != nil {
		t.Fatal(err)
	}
	waitList(t, slow, 5*time.Second, four[0])
	waitList(t, fast, 5*time.Second, four[0])
	mu.Lock()
	block = true
	mu.Unlock()
	defer blocking.Do(func() { close(release) })

	putAll(t, name, four[1])
	waitList(t, fast, 5*time.Second, four[:2]...)
	putAll(t, name, four[2])
	waitList(t, fast, 5*time.Second, four[:3]...)
	noNewList(t, slow, "its filter is blocked")

	mu.Lock()
	block = false
	mu.Unlock()
	blocking.Do(func() { close(release) })
	waitList(t, slow, 5*time.Second, four[:3]...)
}
