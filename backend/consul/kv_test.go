//go:build consul

package consul

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/leaktest"
	"github.com/seedforge/discovery/internal/proctest"
)

type syncBuffer = proctest.Buffer

// TestKVGarbageSkipped writes keys under a service's prefix that are not
// instances: a value that is not a URL query string, a key that is not an
// address, the folder key itself, and a sibling service whose name extends
// this one's. Discovery lists only the instances, warns once per bad key and
// version (not at every change), and picks a key up once it is fixed.
func TestKVGarbageSkipped(t *testing.T) {
	leaktest.Check(t)
	a := sharedAgent(t)
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	d := newDriver(t, a, ModeKV, Config{Logger: log})
	dis, err := core.NewDiscovery(d, core.Options{TTL: kvTTL, Logger: log})
	must(t, err)
	defer dis.Close()
	ctx := ctxFor(t, time.Minute)
	svc := svcName(t)
	good, bad := "tcp@127.0.0.1:34001", "tcp@127.0.0.1:34002"
	putRaw := func(key, value string) {
		t.Helper()
		must(t, a.Do(ctx, "PUT", "/v1/kv/"+key, "", []byte(value), nil))
	}
	clear := func() {
		must(t, a.Do(ctx, "DELETE", "/v1/kv/seedforge_test/"+svc+"?recurse", "", nil, nil)) // also svc+"x"
	}
	clear()
	defer clear()
	putRaw(kvKey(svc, good), "weight=2")
	putRaw(kvKey(svc, bad), "weight=%zz")
	putRaw(kvKey(svc, "notanaddr"), "weight=1")
	putRaw("seedforge_test/"+svc+"/", "")
	putRaw("seedforge_test/"+svc+"x/tcp@127.0.0.1:34009", "")

	l, err := dis.Instances(ctx, svc)
	must(t, err)
	if got := coretest.Addrs(l); len(got) != 1 || got[0] != good || l[0].Meta["weight"] != "2" {
		t.Fatalf("Instances = %v, want only %s with weight 2", got, good)
	}
	ch, err := dis.Watch(ctx, svc)
	must(t, err)
	coretest.Next(t, ch, 10*time.Second, "only the good instance", coretest.HasAddrs(good))
	other := "tcp@127.0.0.1:34003"
	putRaw(kvKey(svc, other), "")
	coretest.Next(t, ch, 10*time.Second, "a change", coretest.HasAddrs(good, other))
	if n := strings.Count(logs.String(), "key="+kvKey(svc, bad)); n != 2 { // List's fetch, then the watch's
		t.Errorf("the garbage value was warned about %d times, want once per reader (2):\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "notanaddr") {
		t.Errorf("no warning about the key that is not an address:\n%s", logs.String())
	}
	putRaw(kvKey(svc, bad), "weight=3")
	got := coretest.Next(t, ch, 10*time.Second, "the fixed value", coretest.HasAddrs(good, bad, other))
	if got[1].Meta["weight"] != "3" {
		t.Errorf("fixed value read as %v", got[1].Meta)
	}
}

// TestKVTakeOver starts a process on an address whose key a previous
// process (crashed, its session still alive) holds: Put succeeds at once and
// updates the value; the key is held by the new session once the old one
// expired, core's refresh having noticed.
func TestKVTakeOver(t *testing.T) {
	leaktest.Check(t)
	a := sharedAgent(t)
	ctx := ctxFor(t, time.Minute)
	svc := svcName(t)
	inst := core.Instance{Service: svc, Addr: "tcp@127.0.0.1:34101", Meta: core.Metadata{"v": "1"}}
	old := newDriver(t, a, ModeKV, Config{})
	must(t, old.Put(ctx, inst, kvTTL))
	oldSession := clientOfKV(old).current()
	must(t, old.Close()) // a crash: the session lives on for its TTL

	d := newDriver(t, a, ModeKV, Config{Logger: testLogger(t)})
	reg, err := core.NewRegistrar(d, core.Options{TTL: kvTTL, Logger: testLogger(t)})
	must(t, err)
	defer reg.Close()
	inst.Meta = core.Metadata{"v": "2"}
	start := time.Now()
	must(t, reg.Register(ctx, inst))
	var pairs []struct {
		Session string
		Value   []byte
	}
	must(t, a.Do(ctx, "GET", "/v1/kv/"+kvKey(svc, inst.Addr), "", nil, &pairs))
	if pair := pairs[0]; pair.Session != oldSession || string(pair.Value) != "v=2" {
		t.Fatalf("right after Register: session %s value %q; want the old session %s and the new value", pair.Session, pair.Value, oldSession)
	}
	coretest.Poll(t, 3*kvTTL, "the key held by the new driver's session", func() error {
		pairs = nil
		if err := a.Do(ctx, "GET", "/v1/kv/"+kvKey(svc, inst.Addr), "", nil, &pairs); err != nil {
			return err
		}
		if s := clientOfKV(d).current(); pairs[0].Session != s || s == "" {
			return fmt.Errorf("held by %s", pairs[0].Session)
		}
		return nil
	})
	t.Logf("taken over %v after Register (the old session expires %v after its last renewal)", time.Since(start).Round(time.Millisecond), kvTTL)
}

func clientOfKV(d core.Driver) *kvDriver { return d.(*kvDriver) }
