//go:build etcd

package etcd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/internal/calltest"
)

// seenLists records every list a subscriber receives, with its time, from a
// goroutine that ends when the channel is closed.
type seenLists struct {
	mu    sync.Mutex
	lists []seenList
	cond  chan struct{} // closed and replaced on every list
}

type seenList struct {
	at    time.Time
	addrs []string
}

func collect(ch <-chan []core.Instance) *seenLists {
	s := &seenLists{cond: make(chan struct{})}
	go func() {
		for l := range ch {
			s.mu.Lock()
			s.lists = append(s.lists, seenList{time.Now(), addrsOf(l)})
			close(s.cond)
			s.cond = make(chan struct{})
			s.mu.Unlock()
		}
	}()
	return s
}

// waitFor waits until the newest list satisfies ok.
func (s *seenLists) waitFor(t testing.TB, within time.Duration, what string, ok func([]string) bool) {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		s.mu.Lock()
		n := len(s.lists)
		good := n > 0 && ok(s.lists[n-1].addrs)
		cond := s.cond
		s.mu.Unlock()
		if good {
			return
		}
		select {
		case <-cond:
		case <-timer.C:
			t.Fatalf("no list with %s within %v; saw %v", what, within, s.all())
		}
	}
}

func (s *seenLists) all() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]string
	for _, l := range s.lists {
		out = append(out, l.addrs)
	}
	return out
}

// emptyBetween reports the first empty list received in [from, to).
func (s *seenLists) emptyBetween(from, to time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lists {
		if len(l.addrs) == 0 && !l.at.Before(from) && l.at.Before(to) {
			return l.at, true
		}
	}
	return time.Time{}, false
}

func equalTo(want ...string) func([]string) bool {
	return func(got []string) bool { return slices.Equal(got, want) }
}

func instance(service string, port int, kv ...string) core.Instance {
	m := core.Metadata{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return core.Instance{Service: service, Addr: fmt.Sprintf("tcp@127.0.0.1:%d", port), Meta: m}
}

// TestProxyCutLongerThanTTL: server and subscriber reach etcd through a proxy
// that drops every connection for longer than the TTL (until etcd itself
// expired the lease). The registration comes back by itself, as one key on
// one new lease, and the subscriber kept its list through the cut.
func TestProxyCutLongerThanTTL(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	raw := rawClient(t, srv.endpoint())
	p := proxyTo(t, srv)
	const base = "/cut"
	ctx := ctxT(t, time.Minute)
	server := newClient(t, Config{Endpoints: []string{p.Addr()}, BasePath: base})
	subscriber := newClient(t, Config{Endpoints: []string{p.Addr()}, BasePath: base})
	inst := instance("Arith", 8972, "weight", "2")
	key := base + "/Arith/" + inst.Addr
	if err := server.reg.Register(ctx, inst); err != nil {
		t.Fatal(err)
	}
	ch, err := subscriber.dis.Watch(ctx, "Arith")
	if err != nil {
		t.Fatal(err)
	}
	seen := collect(ch)
	seen.waitFor(t, 10*time.Second, "the instance", equalTo(inst.Addr))
	oldLease := server.d.current().id

	cutAt := time.Now()
	p.Cut()
	// Cut for longer than the TTL: until etcd expired the lease and its key.
	gone := poll(t, testTTL+10*time.Second, "key expired by etcd during the cut", func() error {
		keys, err := keysUnder(ctx, raw, key)
		if err != nil {
			return err
		}
		if len(keys) != 0 {
			return fmt.Errorf("key still there: %v", keys)
		}
		return nil
	})
	poll(t, 5*time.Second, "the driver noticed its lease is lost", func() error {
		if server.d.current() != nil {
			return errors.New("lease still considered alive")
		}
		return nil
	})
	restoreAt := time.Now()
	p.Restore()
	t.Logf("cut for %v (key expired %v into the cut)", restoreAt.Sub(cutAt).Round(time.Millisecond), gone.Round(time.Millisecond))
	if at, ok := seen.emptyBetween(cutAt, restoreAt); ok {
		t.Fatalf("subscriber got an empty list %v into the cut; lists: %v", at.Sub(cutAt), seen.all())
	}

	back := poll(t, testTTL+backoffCap+10*time.Second, "registration back as one key on a new live lease", func() error {
		keys, err := keysUnder(ctx, raw, base+"/")
		if err != nil {
			return err
		}
		if len(keys) != 1 {
			return fmt.Errorf("keys %v, want exactly %s", keys, key)
		}
		lease, ok := keys[key]
		if !ok || lease == 0 || lease == oldLease {
			return fmt.Errorf("key %s on lease %x (old %x)", key, lease, oldLease)
		}
		ttl, err := raw.TimeToLive(ctx, lease)
		if err != nil || ttl.TTL <= 0 {
			return fmt.Errorf("lease %x not alive: ttl %v err %v", lease, ttl, err)
		}
		return nil
	})
	t.Logf("registration restored %v after the proxy came back", back.Round(time.Millisecond))
	seen.waitFor(t, 10*time.Second, "the instance again", equalTo(inst.Addr))
	// Keys hang on the driver's current lease only. (A grant whose answer
	// was lost to the cut or to a timeout can leave a lease without keys on
	// the server; it expires a TTL later and holds nothing.)
	current := server.d.current().id
	leases, err := raw.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range leases.Leases {
		r, err := raw.TimeToLive(ctx, l.ID, clientv3.WithAttachedKeys())
		if err != nil {
			t.Fatal(err)
		}
		if l.ID == oldLease && r.TTL != -1 {
			t.Fatalf("old lease %x still alive", oldLease)
		}
		if l.ID != current && len(r.Keys) > 0 {
			t.Fatalf("lease %x (not the driver's %x) holds %q", l.ID, current, r.Keys)
		}
	}
}

// TestServerRestart: etcd stops for longer than the TTL and comes back on the
// same data directory and address. The subscriber keeps its list while etcd
// is down; every registration is restored on a new lease and keeps living
// after the old lease expired. (etcd restores the old lease with a fresh TTL
// on restart; if it runs out before the client is back, subscribers are told
// of the gap: an empty list between restart and restore is the truth.)
func TestServerRestart(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	raw := rawClient(t, srv.endpoint())
	const base = "/restart"
	ctx := ctxT(t, 2*time.Minute)
	server := newClient(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: base})
	subscriber := newClient(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: base})
	insts := []core.Instance{instance("A", 1, "group", "g"), instance("A", 2), instance("B", 1)}
	for _, in := range insts {
		if err := server.reg.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := subscriber.dis.Watch(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	seen := collect(ch)
	seen.waitFor(t, 10*time.Second, "both A instances", equalTo(insts[0].Addr, insts[1].Addr))
	oldLease := server.d.current().id

	stoppedAt := time.Now()
	srv.stop()
	downAt := time.Now()
	// Down for longer than the TTL, and until the client gave up on the
	// lease, which it does after a TTL without a keep-alive answer.
	poll(t, testTTL+10*time.Second, "a TTL down, and the driver noticed its lease is lost", func() error {
		if server.d.current() != nil {
			return errors.New("lease still considered alive")
		}
		if d := time.Since(downAt); d <= testTTL {
			return fmt.Errorf("down for %v only", d)
		}
		return nil
	})
	restartAt := time.Now()
	if at, ok := seen.emptyBetween(stoppedAt, restartAt); ok {
		t.Fatalf("subscriber got an empty list %v after the stop, while etcd was down; lists: %v", at.Sub(stoppedAt), seen.all())
	}
	srv.restart()
	t.Logf("etcd stopping %v (a graceful stop drains streams), then down %v", downAt.Sub(stoppedAt).Round(time.Millisecond), time.Since(downAt).Round(time.Millisecond))

	var newLease clientv3.LeaseID
	// Budget: the TTL, core's backoff cap, gRPC's reconnect ceiling (+20%
	// jitter), and a second of slack for a busy machine.
	budget := testTTL + backoffCap + reconnect.Backoff.MaxDelay*12/10 + time.Second
	back := poll(t, budget, "every registration on the driver's new live lease", func() error {
		l := server.d.current()
		if l == nil || l.id == oldLease {
			return errors.New("no new lease yet")
		}
		keys, err := keysUnder(ctx, raw, base+"/")
		if err != nil {
			return err
		}
		want := map[string]clientv3.LeaseID{}
		for _, in := range insts {
			want[base+"/"+in.Service+"/"+in.Addr] = l.id
		}
		if !maps.Equal(keys, want) {
			return fmt.Errorf("keys %v, want %v", keys, want)
		}
		newLease = l.id
		return nil
	})
	t.Logf("every registration restored %v after the restart (ttl %v, backoff cap %v)", back.Round(time.Millisecond), testTTL, backoffCap)
	// The old lease expires on its own; our keys no longer hang on it.
	poll(t, 3*testTTL+10*time.Second, "old lease expired", func() error {
		r, err := raw.TimeToLive(ctx, oldLease)
		if err != nil {
			return err
		}
		if r.TTL != -1 {
			return fmt.Errorf("old lease has %ds left", r.TTL)
		}
		return nil
	})
	keys, err := keysUnder(ctx, raw, base+"/")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != len(insts) {
		t.Fatalf("after the old lease expired: keys %v", keys)
	}
	for k, l := range keys {
		if l != newLease {
			t.Fatalf("key %s on lease %x, want %x", k, l, newLease)
		}
	}
	seen.waitFor(t, 10*time.Second, "both A instances", equalTo(insts[0].Addr, insts[1].Addr))
}

// TestLeaseRevokedByOther: another client revokes our lease (all our keys go
// at once); core's next refresh, a TTL/3 later, writes them back on a new lease.
func TestLeaseRevokedByOther(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	raw := rawClient(t, srv.endpoint())
	const base = "/revoke"
	ctx := ctxT(t, time.Minute)
	server := newClient(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: base})
	subscriber := newClient(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: base})
	a, b := instance("S", 1, "group", "g"), instance("S", 2)
	for _, in := range []core.Instance{a, b} {
		if err := server.reg.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := subscriber.dis.Watch(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	recv(t, ch, 10*time.Second, "a and b", hasAddrs(a.Addr, b.Addr))
	lease := server.d.current().id
	if _, err := raw.Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	recv(t, ch, 10*time.Second, "both gone with the lease", hasAddrs())
	interval := testTTL / core.TTLPerInterval
	// One refresh interval (+10% jitter) plus slack for a busy machine.
	within := interval + interval/10 + time.Second
	got := recv(t, ch, within, "both back", hasAddrs(a.Addr, b.Addr))
	t.Logf("re-registered %v after the revoke (refresh interval %v)", time.Since(revoked).Round(time.Millisecond), interval)
	if got[0].Meta["group"] != "g" {
		t.Fatalf("metadata lost: %v", got[0].Meta)
	}
	keys, err := keysUnder(ctx, raw, base+"/")
	if err != nil {
		t.Fatal(err)
	}
	for k, l := range keys {
		if l == lease || l != server.d.current().id {
			t.Fatalf("key %s on lease %x; revoked %x, current %x", k, l, lease, server.d.current().id)
		}
	}
}

// TestKeyDeletedByOther: another client deletes one of our keys; the next
// refresh finds it gone and puts it back on the same, still live, lease.
func TestKeyDeletedByOther(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	raw := rawClient(t, srv.endpoint())
	const base = "/delete"
	ctx := ctxT(t, time.Minute)
	server := newClient(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: base})
	subscriber := newClient(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: base})
	a, b := instance("S", 1, "weight", "5"), instance("S", 2)
	for _, in := range []core.Instance{a, b} {
		if err := server.reg.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	ch, err := subscriber.dis.Watch(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	recv(t, ch, 10*time.Second, "a and b", hasAddrs(a.Addr, b.Addr))
	lease := server.d.current().id
	if _, err := raw.Delete(ctx, base+"/S/"+a.Addr); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	recv(t, ch, 10*time.Second, "a deleted", hasAddrs(b.Addr))
	interval := testTTL / core.TTLPerInterval
	within := interval + interval/10 + time.Second
	got := recv(t, ch, within, "a back", hasAddrs(a.Addr, b.Addr))
	t.Logf("re-registered %v after the delete (refresh interval %v)", time.Since(deleted).Round(time.Millisecond), interval)
	if got[0].Meta["weight"] != "5" {
		t.Fatalf("metadata lost: %v", got[0].Meta)
	}
	keys, err := keysUnder(ctx, raw, base+"/")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[base+"/S/"+a.Addr] != lease || keys[base+"/S/"+b.Addr] != lease {
		t.Fatalf("keys %v, want both on the unchanged lease %x", keys, lease)
	}
}

// TestCompactionWhileWatching: a watcher cut off from etcd misses changes
// that are then compacted away. When it reconnects, etcd answers its resume
// with "compacted": Next returns that error, and the next watcher (as core
// opens it) reads the prefix again and has the right list.
func TestCompactionWhileWatching(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	raw := rawClient(t, srv.endpoint())
	p := proxyTo(t, srv)
	const base = "/compact"
	ctx := ctxT(t, time.Minute)
	prefix := base + "/S/"
	a, b := instance("S", 1), instance("S", 2, "version", "2")
	if _, err := raw.Put(ctx, prefix+a.Addr, ""); err != nil {
		t.Fatal(err)
	}
	d := newDriverT(t, Config{Endpoints: []string{p.Addr()}, BasePath: base})
	// A core subscriber over the same driver, to see the recovery end to end.
	dis, err := core.NewDiscovery(d, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dis.Close() })
	ch, err := dis.Watch(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	recv(t, ch, 10*time.Second, "a", hasAddrs(a.Addr))

	w, err := d.Watch(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	first, err := w.Next(ctx)
	if err != nil || !slices.Equal(addrsOf(first), []string{a.Addr}) {
		t.Fatalf("first Next: %v %v", addrsOf(first), err)
	}
	p.Cut()
	if _, err := raw.Put(ctx, prefix+b.Addr, b.Meta.Encode()); err != nil {
		t.Fatal(err)
	}
	del, err := raw.Delete(ctx, prefix+a.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Compact(ctx, del.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	p.Restore()
	nctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	_, err = w.Next(nctx)
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("Next after compaction = %v, want ErrCompacted", err)
	}
	w.Close()
	w2, err := d.Watch(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	list, err := w2.Next(ctx)
	if err != nil || !slices.Equal(addrsOf(list), []string{b.Addr}) || list[0].Meta["version"] != "2" {
		t.Fatalf("reloaded list %v err %v", list, err)
	}
	got := recv(t, ch, 20*time.Second, "core's subscriber recovered: b only", hasAddrs(b.Addr))
	if got[0].Meta["version"] != "2" {
		t.Fatalf("metadata %v", got[0].Meta)
	}
}

// TestGarbageUnderPrefix: values that are not metadata and keys that are not
// instances are skipped with a warning (the driver skips the values, core the
// keys), never a panic or a lost list.
func TestGarbageUnderPrefix(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	raw := rawClient(t, srv.endpoint())
	const base = "/garbage"
	ctx := ctxT(t, time.Minute)
	prefix := base + "/S/"
	good, bad := "tcp@127.0.0.1:1", "tcp@127.0.0.1:2"
	puts := map[string]string{
		prefix + good:                  "weight=1",
		prefix + bad:                   "weight=%zz", // not a query string
		prefix + "no-address":          "weight=1",   // no network@
		prefix:                         "x",          // nothing after the prefix
		prefix + "TCP@127.0.0.1:3":     "",           // network must be lower case
		prefix + "tcp@127.0.0.1:4 x":   "",           // white space
		base + "/S":                    "S",          // rpcx's service "directory" key
		base:                           "rpcx_path",  // rpcx's base "directory" key
		base + "/Sx/tcp@127.0.0.1:5":   "",           // another service sharing the text prefix
		prefix + "unix@/tmp/rpcx.sock": "group=u",    // a unix address has slashes: kept
	}
	for k, v := range puts {
		if _, err := raw.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	rec := &logRecorder{}
	d := newDriverT(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: base, Logger: slogOf(rec)})
	o := testOptions()
	o.Logger = slogOf(rec)
	dis, err := core.NewDiscovery(d, o)
	if err != nil {
		t.Fatal(err)
	}
	defer dis.Close()
	want := []string{good, "unix@/tmp/rpcx.sock"}
	list, err := dis.Instances(ctx, "S", core.IncludeInactive())
	if err != nil {
		t.Fatal(err)
	}
	if got := sortedAddrs(list); !slices.Equal(got, want) {
		t.Fatalf("Instances = %v, want %v", got, want)
	}
	for _, k := range []string{prefix + bad, "no-address", "TCP@127.0.0.1:3", "tcp@127.0.0.1:4 x"} {
		if !rec.contains(k) {
			t.Errorf("no warning about %s; log: %v", k, rec.all())
		}
	}
	ch, err := dis.Watch(ctx, "S", core.IncludeInactive())
	if err != nil {
		t.Fatal(err)
	}
	recv(t, ch, 10*time.Second, "the valid instances", hasAddrs(want...))
	// A good instance whose value turns to garbage leaves the list…
	if _, err := raw.Put(ctx, prefix+good, "%%%"); err != nil {
		t.Fatal(err)
	}
	recv(t, ch, 10*time.Second, "the unix instance alone", hasAddrs("unix@/tmp/rpcx.sock"))
	// …stray keys change nothing, and the next real change still arrives.
	if _, err := raw.Put(ctx, prefix+"still-no-address", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Put(ctx, prefix+good, "weight=7"); err != nil {
		t.Fatal(err)
	}
	list = recv(t, ch, 10*time.Second, "after repair", hasAddrs(want...))
	for _, in := range list {
		if in.Addr == good && in.Meta["weight"] != "7" {
			t.Fatalf("metadata %v", in.Meta)
		}
	}
}

// TestClusterLeaderStops: three members on loopback; the client knows all of
// them. The leader stops: registrations stay alive, the watch goes on, and
// calls through selector.Call keep flowing (none fails, no list is short).
func TestClusterLeaderStops(t *testing.T) {
	leakCheck(t, peerHTTP...)
	members := startCluster(t, 3)
	eps := endpoints(members...)
	const base = "/cluster"
	ctx := ctxT(t, 2*time.Minute)
	server := newClient(t, Config{Endpoints: eps, BasePath: base})
	subscriber := newClient(t, Config{Endpoints: eps, BasePath: base})
	if got := server.d.cli.Endpoints(); !slices.Equal(got, eps) {
		t.Fatalf("client endpoints %v, want all of %v", got, eps)
	}
	servers := calltest.Servers(t, 2)
	slices.Sort(servers) // the order core lists them in
	a, b := core.Instance{Service: "S", Addr: servers[0]}, core.Instance{Service: "S", Addr: servers[1]}
	if err := server.reg.Register(ctx, a); err != nil {
		t.Fatal(err)
	}
	ch, err := subscriber.dis.Watch(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	recv(t, ch, 10*time.Second, "a", hasAddrs(a.Addr))
	flow := calltest.Start(t, subscriber.dis, "S", 1)

	var leader *testServer
	var survivors []*testServer
	for _, m := range members {
		e := m.server()
		if e.Server.Leader() == e.Server.MemberID() {
			leader = m
		} else {
			survivors = append(survivors, m)
		}
	}
	if leader == nil {
		t.Fatal("no leader")
	}
	raw := rawClient(t, endpoints(survivors...)...)
	stopped := time.Now()
	leader.stop()
	t.Logf("stopped leader %s", leader.name)

	// The watch goes on: a new registration reaches the subscriber.
	if err := server.reg.Register(ctx, b); err != nil {
		t.Fatal(err)
	}
	registered := time.Since(stopped)
	recv(t, ch, 20*time.Second, "a and b after the leader stopped", hasAddrs(a.Addr, b.Addr))
	t.Logf("registered %v after the leader stopped, listed %v after", registered.Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
	// Registrations stay alive well past their TTL without the old leader.
	poll(t, 2*testTTL+20*time.Second, "two TTLs after the leader stopped with both keys alive", func() error {
		keys, err := keysUnder(ctx, raw, base+"/")
		if err != nil {
			return err
		}
		if len(keys) != 2 {
			t.Fatalf("keys %v %v after the leader stopped, want both", keys, time.Since(stopped))
		}
		if time.Since(stopped) < 2*testTTL {
			return errors.New("still observing")
		}
		return nil
	})
	l := server.d.current()
	if l == nil {
		t.Fatal("driver has no live lease")
	}
	ttl, err := raw.TimeToLive(ctx, l.id)
	if err != nil || ttl.TTL <= 0 {
		t.Fatalf("lease %x: %v %v", l.id, ttl, err)
	}
	select {
	case l := <-ch:
		if len(l) != 2 {
			t.Fatalf("subscriber got %v after the leader stopped", addrsOf(l))
		}
	default:
	}
	flow.Stop()
}

func sortedAddrs(l []core.Instance) []string {
	out := addrsOf(l)
	slices.Sort(out)
	return out
}
