//go:build consul

package consul

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/consul/consultest"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/leaktest"
)

// delivery is one list a subscriber received, and when.
type delivery struct {
	at    time.Time
	addrs []string
}

// recorder keeps every list delivered on a watch channel until it closes.
type recorder struct {
	mu   sync.Mutex
	seen []delivery
	done chan struct{}
}

func record(ch <-chan []core.Instance) *recorder {
	r := &recorder{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for l := range ch {
			r.mu.Lock()
			r.seen = append(r.seen, delivery{time.Now(), coretest.Addrs(l)})
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *recorder) all() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// waitFor polls until the last delivered list is want.
func (r *recorder) waitFor(t *testing.T, within time.Duration, want []string) {
	t.Helper()
	coretest.Poll(t, within, fmt.Sprintf("list %v", want), func() error {
		s := r.all()
		if len(s) > 0 && slices.Equal(s[len(s)-1].addrs, want) {
			return nil
		}
		return fmt.Errorf("deliveries %v", s)
	})
}

// TestAgentRestart kills the agent (SIGKILL, as a crash), keeps it down for
// three TTLs and starts a fresh one on the same ports: a -dev agent keeps
// everything in memory, so the new one knows no registration, no session,
// and its Raft index starts over (lower than the watches' last index).
//
// What it proves, in both modes:
//   - registrations come back by themselves (core re-registers on the
//     KeepAlive errors and ErrNotFound the driver reports);
//   - subscribers keep their list while the agent is down: Instances answers
//     from the watch's list, and no list other than the full one is
//     delivered between the kill and the moment the new agent answers;
//   - after that moment a list may lack instances, even be empty: that is the
//     truth of the fresh agent until the registrars wrote again, and it is
//     what clients must be told. Every list holds only registered addresses;
//   - the watches read the new agent afterwards: an instance registered and
//     deregistered after the recovery reaches the subscribers.
func TestAgentRestart(t *testing.T) {
	for _, mode := range []Mode{ModeCatalog, ModeKV} {
		t.Run(string(mode), func(t *testing.T) {
			leaktest.Check(t)
			a := consultest.Start(t, consultest.Options{HCL: sharedHCL})
			ttl := catalogTTL
			if mode == ModeKV {
				ttl = kvTTL
			}
			opts := core.Options{TTL: ttl, BackoffBase: 20 * time.Millisecond, BackoffCap: 500 * time.Millisecond, Logger: testLogger(t)}
			// Server and client are separate drivers, as separate processes.
			reg, err := core.NewRegistrar(newDriver(t, a, mode, Config{}), opts)
			must(t, err)
			t.Cleanup(func() { reg.Close() })
			dis, err := core.NewDiscovery(newDriver(t, a, mode, Config{}), opts)
			must(t, err)
			t.Cleanup(func() { dis.Close() })

			ctx := ctxFor(t, 2*time.Minute)
			svcs := map[string][]string{
				svcName(t) + "-a": {"tcp@127.0.0.1:30001", "tcp@127.0.0.1:30002"},
				svcName(t) + "-b": {"tcp@127.0.0.1:30003"},
			}
			recs := map[string]*recorder{}
			for svc, addrs := range svcs {
				for _, addr := range addrs {
					must(t, reg.Register(ctx, core.Instance{Service: svc, Addr: addr, Meta: core.Metadata{"weight": "2"}}))
				}
				ch, err := dis.Watch(ctx, svc)
				must(t, err)
				recs[svc] = record(ch)
				recs[svc].waitFor(t, 10*time.Second, addrs)
			}

			killed := time.Now()
			a.Kill()
			outage := 3 * ttl
			deadline := time.Now().Add(outage)
			for time.Now().Before(deadline) {
				for svc, addrs := range svcs {
					l, err := dis.Instances(ctx, svc)
					if err != nil || !slices.Equal(coretest.Addrs(l), addrs) {
						t.Fatalf("agent down: Instances(%s) = %v, %v; want the last list %v", svc, coretest.Addrs(l), err, addrs)
					}
				}
				time.Sleep(50 * time.Millisecond) // sampling the outage; its length is fixed
			}
			// The outage ends when the new agent starts: from then on a watch
			// may read it (possibly before Restart returns), and what it reads
			// before the registrars wrote again is the fresh agent's truth.
			up := time.Now()
			must(t, a.Restart())
			t.Logf("agent down %v; fresh agent on the same ports answering %v later", up.Sub(killed).Round(time.Millisecond), time.Since(up).Round(time.Millisecond))

			// The registrations come back in the new agent by themselves
			// (read by a fresh driver, as a newly started client would).
			fresh := newDriver(t, a, mode, Config{})
			coretest.Poll(t, 30*time.Second, "every registration back in the new agent", func() error {
				for svc, addrs := range svcs {
					l, err := fresh.List(ctx, svc)
					if err != nil {
						return err
					}
					if got := sortedCopy(coretest.Addrs(l)); !slices.Equal(got, addrs) {
						return fmt.Errorf("new agent holds %v for %s, want %v", got, svc, addrs)
					}
				}
				return nil
			})
			t.Logf("every registration back in the new agent %v after it answered", time.Since(up).Round(time.Millisecond))
			// The watches read the new agent: a registration made now reaches
			// the subscribers.
			for svc, addrs := range svcs {
				recs[svc].waitFor(t, 30*time.Second, addrs)
				extra := "tcp@127.0.0.1:30009"
				must(t, reg.Register(ctx, core.Instance{Service: svc, Addr: extra}))
				recs[svc].waitFor(t, 30*time.Second, sortedCopy(append(slices.Clone(addrs), extra)))
				must(t, reg.Deregister(ctx, core.Instance{Service: svc, Addr: extra}))
				recs[svc].waitFor(t, 30*time.Second, addrs)
			}

			for svc, addrs := range svcs {
				transient := 0
				for _, d := range recs[svc].all() {
					for _, got := range d.addrs {
						if !slices.Contains(addrs, got) && got != "tcp@127.0.0.1:30009" {
							t.Errorf("%s: delivered an address never registered: %v", svc, d.addrs)
						}
					}
					short := false
					for _, want := range addrs {
						short = short || !slices.Contains(d.addrs, want)
					}
					switch {
					case d.at.After(killed) && d.at.Before(up) && short:
						t.Errorf("%s: %v delivered while the agent was down (%v after the kill)", svc, d.addrs, d.at.Sub(killed))
					case d.at.After(up) && short:
						// The fresh agent's truth before the registrars wrote again.
						transient++
						t.Logf("%s: %v delivered %v after the new agent answered", svc, d.addrs, d.at.Sub(up).Round(time.Millisecond))
					}
				}
				t.Logf("%s: %d deliveries in all, %d short lists from the fresh agent before the registrars wrote again", svc, len(recs[svc].all()), transient)
			}
		})
	}
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
