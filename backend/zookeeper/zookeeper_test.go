//go:build zookeeper

package zookeeper_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/seedforge/discovery/backend/zookeeper"
	"github.com/seedforge/discovery/backend/zookeeper/zktest"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/faultproxy"
)

// TestConformance runs core's suite. Every driver talks to the server
// through its own fault proxy, so that Crash is honest: it cuts the
// connection without closing the session, as a killed process does, and the
// session's nodes go when the server expires it, one session timeout later.
func TestConformance(t *testing.T) {
	srv := zktest.Start(t)
	admin := rawConn(t, srv.Addr(), "")
	const base = "/conformance"
	var mu sync.Mutex
	proxies := map[core.Driver]*faultproxy.Proxy{}
	coretest.Run(t, coretest.Harness{
		NewDriver: func(t testing.TB) core.Driver {
			p, err := faultproxy.Start(srv.Addr())
			must(t, err)
			t.Cleanup(func() { p.Close() })
			d := newDriver(t, zookeeper.Config{Servers: []string{p.Addr()}, BasePath: base, SessionTimeout: 2 * time.Second})
			mu.Lock()
			proxies[d] = p
			mu.Unlock()
			return d
		},
		TTL: 2 * time.Second, // the session timeout
		Remove: func(t testing.TB, inst core.Instance) {
			path := base + "/" + inst.Service + "/" + zookeeper.NodeName(inst.Addr)
			if err := admin.Delete(path, -1); err != nil {
				t.Fatalf("delete %s: %v", path, err)
			}
		},
		Crash: func(t testing.TB, d core.Driver) {
			mu.Lock()
			defer mu.Unlock()
			proxies[d].Cut()
		},
	})
}

// TestRPCXLayout checks the nodes against rpcx's ZooKeeper registry layout
// with a plain client, both ways: what we write is what rpcx writes, and
// nodes written the way rpcx writes them are discovered.
func TestRPCXLayout(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	raw := rawConn(t, srv.Addr(), "")
	ctx := ctxFor(t, 30*time.Second)
	d := newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: "/rpcx_test/nested"})
	srvSide := newClient(t, d, 2*time.Second)

	inst := core.Instance{Service: "Arith", Addr: "tcp@127.0.0.1:8972", Meta: core.Metadata{"group": "blue", "weight": "3"}}
	must(t, srvSide.reg.Register(ctx, inst))
	for path, want := range map[string]string{
		"/rpcx_test":                                 "",
		"/rpcx_test/nested":                          "rpcx_path",
		"/rpcx_test/nested/Arith":                    "Arith",
		"/rpcx_test/nested/Arith/tcp@127.0.0.1:8972": "group=blue&weight=3",
	} {
		data, stat, err := raw.Get(path)
		if err != nil {
			t.Fatalf("get %s: %v", path, err)
		}
		if string(data) != want {
			t.Errorf("%s holds %q, want %q", path, data, want)
		}
		ephemeral := strings.HasSuffix(path, "8972")
		if (stat.EphemeralOwner != 0) != ephemeral {
			t.Errorf("%s: ephemeral owner 0x%x, want ephemeral=%v", path, stat.EphemeralOwner, ephemeral)
		}
		if ephemeral && stat.EphemeralOwner != zookeeper.SessionID(d) {
			t.Errorf("%s owned by 0x%x, not the driver's session 0x%x", path, stat.EphemeralOwner, zookeeper.SessionID(d))
		}
	}

	// A unix socket address: '/' is escaped in the node name.
	unix := core.Instance{Service: "Arith", Addr: "unix@/tmp/arith%1.sock"}
	must(t, srvSide.reg.Register(ctx, unix))
	if ok, _, err := raw.Exists("/rpcx_test/nested/Arith/unix@%2Ftmp%2Farith%251.sock"); err != nil || !ok {
		t.Fatalf("escaped unix node missing: %v %v", ok, err)
	}

	// A node written as an rpcx server writes it, by another client.
	_, err := raw.Create("/rpcx_test/nested/Arith/tcp@10.0.0.7:8972", []byte("tps=12.5&state=inactive"), zk.FlagEphemeral, zk.WorldACL(zk.PermAll))
	must(t, err)
	cli := newClient(t, newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: "/rpcx_test/nested/"}), 2*time.Second)
	ch, err := cli.dis.Watch(ctx, "Arith", core.IncludeInactive())
	must(t, err)
	got := record(t, ch).waitFor(t, 10*time.Second, "all three", hasAddrs("tcp@10.0.0.7:8972", "tcp@127.0.0.1:8972", "unix@/tmp/arith%1.sock"))
	if got[0].Meta["tps"] != "12.5" || !got[0].Meta.Inactive() || got[1].Meta["weight"] != "3" {
		t.Fatalf("metadata not read back: %+v", got)
	}
}

// TestDataChangesAndGarbage: a change of a node's data alone (state=inactive,
// a new tps) reaches subscribers; nodes that are not instances are skipped
// with a warning, and become instances once their data is fixed.
func TestDataChangesAndGarbage(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	raw := rawConn(t, srv.Addr(), "")
	ctx := ctxFor(t, 60*time.Second)
	const base = "/garbage"
	srvSide := newClient(t, newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: base}), 2*time.Second)
	log := newTestLog(t)
	cli := newClientLog(t, newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: base, Logger: log.logger()}), 2*time.Second, log.logger())

	a := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:1001", Meta: core.Metadata{"weight": "1"}}
	must(t, srvSide.reg.Register(ctx, a))
	all, err := cli.dis.Watch(ctx, "svc", core.IncludeInactive())
	must(t, err)
	active, err := cli.dis.Watch(ctx, "svc")
	must(t, err)
	recAll, recActive := record(t, all), record(t, active)
	recActive.waitFor(t, 10*time.Second, "a", hasAddrs(a.Addr))

	// Data change only: the registrar rewrites the node's data.
	a.Meta = core.Metadata{"weight": "1", "state": "inactive"}
	must(t, srvSide.reg.Register(ctx, a))
	recActive.waitFor(t, 10*time.Second, "a filtered out as inactive", hasAddrs())
	recAll.waitFor(t, 10*time.Second, "a with state=inactive", func(l []core.Instance) bool {
		return len(l) == 1 && l[0].Meta.Inactive()
	})
	// A data change written by someone else (an rpcx server's tps update).
	path := base + "/svc/tcp@127.0.0.1:1001"
	_, err = raw.Set(path, []byte("weight=1&tps=42"), -1)
	must(t, err)
	recActive.waitFor(t, 10*time.Second, "a active again with tps=42", func(l []core.Instance) bool {
		return len(l) == 1 && l[0].Meta["tps"] == "42"
	})

	// Garbage: a name without network@, undecodable data, binary data.
	for name, data := range map[string][]byte{
		"junk":               []byte("weight=1"),
		"tcp@127.0.0.1:1002": []byte("%zz;;=&"),
		"tcp@127.0.0.1:1003": {0xff, 0xfe, 0x00},
		"tcp@127.0.0.1:%zz":  []byte(""),
		"unix@":              nil, // what rpcx makes of unix@/tmp/x.sock
		"tcp@127.0.0.1:1004": []byte("weight=2"),
	} {
		_, err := raw.Create(base+"/svc/"+name, data, 0, zk.WorldACL(zk.PermAll))
		must(t, err)
	}
	recAll.waitFor(t, 10*time.Second, "only the valid nodes", hasAddrs(a.Addr, "tcp@127.0.0.1:1004"))
	l, err := cli.dis.Instances(ctx, "svc", core.IncludeInactive())
	must(t, err)
	if !slices.Equal(addrs(l), []string{a.Addr, "tcp@127.0.0.1:1004"}) {
		t.Fatalf("Instances: %v", addrs(l))
	}
	poll(t, 5*time.Second, "a warning per garbage node", func() error {
		for _, name := range []string{"junk", "1002", "1003", "%zz", "unix@"} {
			if !strings.Contains(log.String(), name) {
				return fmt.Errorf("no warning naming %q", name)
			}
		}
		return nil
	})
	// Fixed garbage becomes an instance.
	_, err = raw.Set(base+"/svc/tcp@127.0.0.1:1002", []byte("weight=5"), -1)
	must(t, err)
	recAll.waitFor(t, 10*time.Second, "the repaired node", hasAddrs(a.Addr, "tcp@127.0.0.1:1002", "tcp@127.0.0.1:1004"))
	// Deleting the whole service node (an operator's cleanup) empties the
	// list, and a later registration is seen again.
	for _, name := range []string{"junk", "tcp@127.0.0.1:1002", "tcp@127.0.0.1:1003", "tcp@127.0.0.1:%zz", "unix@", "tcp@127.0.0.1:1004"} {
		must(t, raw.Delete(base+"/svc/"+name, -1))
	}
	must(t, srvSide.reg.Deregister(ctx, a))
	must(t, raw.Delete(base+"/svc", -1))
	recAll.waitFor(t, 10*time.Second, "nothing", hasAddrs())
	b := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:1005"}
	must(t, srvSide.reg.Register(ctx, b))
	recAll.waitFor(t, 10*time.Second, "b after the service node came back", hasAddrs(b.Addr))
}

// TestReconnectKeepsSession: a disconnect shorter than the session timeout
// keeps the session, so the node stays (it is not even re-created), and the
// watches too: a change made while cut off arrives after the reconnect, and
// subscribers see nothing else.
func TestReconnectKeepsSession(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	raw := rawConn(t, srv.Addr(), "")
	ctx := ctxFor(t, 60*time.Second)
	p, err := faultproxy.Start(srv.Addr())
	must(t, err)
	t.Cleanup(func() { p.Close() })
	d := newDriver(t, zookeeper.Config{Servers: []string{p.Addr()}, BasePath: "/reconnect", SessionTimeout: 10 * time.Second})
	cl := newClient(t, d, 4*time.Second)
	a := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:2001"}
	must(t, cl.reg.Register(ctx, a))
	// The subscriber shares the cut connection, as in a server that is also a client.
	ch, err := cl.dis.Watch(ctx, "svc")
	must(t, err)
	rec := record(t, ch)
	rec.waitFor(t, 10*time.Second, "a", hasAddrs(a.Addr))
	_, before, err := raw.Get("/reconnect/svc/tcp@127.0.0.1:2001")
	must(t, err)
	session := zookeeper.SessionID(d)

	p.Cut()
	poll(t, 5*time.Second, "driver disconnected", func() error {
		if s := zookeeper.State(d); s == zk.StateHasSession {
			return fmt.Errorf("state %v", s)
		}
		return nil
	})
	// A change while cut off: the watches set before the cut report it once
	// the client has set them again on the new connection.
	other := newClient(t, newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: "/reconnect"}), 4*time.Second)
	c := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:2003"}
	must(t, other.reg.Register(ctx, c))
	p.Restore()
	poll(t, 10*time.Second, "driver reconnected", func() error {
		if s := zookeeper.State(d); s != zk.StateHasSession {
			return fmt.Errorf("state %v", s)
		}
		return nil
	})
	if got := zookeeper.SessionID(d); got != session {
		t.Fatalf("session changed from 0x%x to 0x%x over a short disconnect", session, got)
	}
	_, after, err := raw.Get("/reconnect/svc/tcp@127.0.0.1:2001")
	must(t, err)
	if after.Czxid != before.Czxid || after.EphemeralOwner != session {
		t.Fatalf("node re-created or changed owner: czxid %d → %d, owner 0x%x", before.Czxid, after.Czxid, after.EphemeralOwner)
	}
	rec.waitFor(t, 10*time.Second, "c, registered during the cut", hasAddrs(a.Addr, c.Addr))
	// The watch survived: a change after the reconnect arrives too.
	b := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:2002"}
	must(t, cl.reg.Register(ctx, b))
	rec.waitFor(t, 10*time.Second, "a, b and c", hasAddrs(a.Addr, b.Addr, c.Addr))
	if got := rec.history(); rec.emptySeen() || len(rec.all()) != 3 {
		t.Fatalf("subscriber saw more than the three real lists: %s", got)
	}
}

// TestSessionExpiry cuts a server's connection for longer than its session
// timeout, so that ZooKeeper expires the session and deletes its node; once
// the connection is back the node is registered again on a new session.
// A subscriber in the cut process keeps its last list throughout; one
// connected directly sees the expired instance leave and come back, and
// neither ever sees an empty list (another instance stays registered).
func TestSessionExpiry(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	raw := rawConn(t, srv.Addr(), "")
	ctx := ctxFor(t, 90*time.Second)
	const base = "/expiry"
	p, err := faultproxy.Start(srv.Addr())
	must(t, err)
	t.Cleanup(func() { p.Close() })
	cutD := newDriver(t, zookeeper.Config{Servers: []string{p.Addr()}, BasePath: base, SessionTimeout: time.Second})
	cut := newClient(t, cutD, time.Second)
	direct := newClient(t, newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: base}), 2*time.Second)

	a := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:3001", Meta: core.Metadata{"group": "a"}}
	b := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:3002"}
	must(t, cut.reg.Register(ctx, a))
	must(t, direct.reg.Register(ctx, b))
	chCut, err := cut.dis.Watch(ctx, "svc")
	must(t, err)
	chDirect, err := direct.dis.Watch(ctx, "svc")
	must(t, err)
	recCut, recDirect := record(t, chCut), record(t, chDirect)
	recCut.waitFor(t, 10*time.Second, "a and b", hasAddrs(a.Addr, b.Addr))
	recDirect.waitFor(t, 10*time.Second, "a and b", hasAddrs(a.Addr, b.Addr))
	oldSession := zookeeper.SessionID(cutD)
	seenBefore := len(recCut.all())

	p.Cut()
	cutAt := time.Now()
	nodeA := base + "/svc/tcp@127.0.0.1:3001"
	poll(t, 20*time.Second, "the server expiring the cut session and deleting its node", func() error {
		if ok, _, err := raw.Exists(nodeA); err != nil || ok {
			return fmt.Errorf("exists=%v err=%v", ok, err)
		}
		return nil
	})
	t.Logf("node deleted by session expiry %v after the cut", time.Since(cutAt).Round(time.Millisecond))
	recDirect.waitFor(t, 10*time.Second, "b alone while a's session is gone", hasAddrs(b.Addr))
	if n := len(recCut.all()); n != seenBefore {
		t.Fatalf("the cut subscriber got lists while cut off: %s", recCut.history())
	}

	p.Restore()
	restoredAt := time.Now()
	recDirect.waitFor(t, 20*time.Second, "a back", hasAddrs(a.Addr, b.Addr))
	t.Logf("a registered again %v after the connection came back", time.Since(restoredAt).Round(time.Millisecond))
	recCut.waitFor(t, 20*time.Second, "a and b on the new session", hasAddrs(a.Addr, b.Addr))
	if s := zookeeper.SessionID(cutD); s == oldSession || s == 0 {
		t.Fatalf("session 0x%x after expiry, was 0x%x: the test did not expire it", s, oldSession)
	}
	_, stat, err := raw.Get(nodeA)
	must(t, err)
	if stat.EphemeralOwner != zookeeper.SessionID(cutD) {
		t.Fatalf("a's node owned by 0x%x, want the new session 0x%x", stat.EphemeralOwner, zookeeper.SessionID(cutD))
	}
	if got := recDirect.last(); got[0].Meta["group"] != "a" {
		t.Fatalf("a came back without its metadata: %+v", got)
	}
	if recCut.emptySeen() || recDirect.emptySeen() {
		t.Fatalf("a subscriber saw an empty list: cut %s; direct %s", recCut.history(), recDirect.history())
	}
	t.Logf("cut subscriber: %s", recCut.history())
	t.Logf("direct subscriber: %s", recDirect.history())
}

// TestServerRestart stops the server and starts it again on the same data
// and port. ZooKeeper restores the sessions, the clients reconnect within
// the session timeout, and the nodes and watches carry on: subscribers keep
// their list during the outage and never see it empty.
func TestServerRestart(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	ctx := ctxFor(t, 120*time.Second)
	const base = "/restart"
	// 10s sessions: the JVM's restart and the clients' reconnection fit in
	// them with room to spare, even on a loaded machine.
	regD := newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: base, SessionTimeout: 10 * time.Second})
	reg := newClient(t, regD, 4*time.Second)
	cliD := newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: base, SessionTimeout: 10 * time.Second})
	cli := newClient(t, cliD, 4*time.Second)
	a := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:4001"}
	b := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:4002"}
	must(t, reg.reg.Register(ctx, a))
	must(t, reg.reg.Register(ctx, b))
	ch, err := cli.dis.Watch(ctx, "svc")
	must(t, err)
	rec := record(t, ch)
	rec.waitFor(t, 10*time.Second, "a and b", hasAddrs(a.Addr, b.Addr))
	session := zookeeper.SessionID(regD)

	start := time.Now()
	srv.Restart()
	t.Logf("server down and up again in %v", time.Since(start).Round(time.Millisecond))
	poll(t, 20*time.Second, "registrar reconnected", func() error {
		if s := zookeeper.State(regD); s != zk.StateHasSession {
			return fmt.Errorf("state %v", s)
		}
		return nil
	})
	if s := zookeeper.SessionID(regD); s != session {
		t.Fatalf("registrar's session did not survive the restart (0x%x → 0x%x)", session, s)
	}
	l, err := cli.d.List(ctx, "svc")
	must(t, err)
	if len(l) != 2 {
		t.Fatalf("after the restart the store lists %d instances, want 2", len(l))
	}
	// The watch still works after the restart.
	c := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:4003"}
	must(t, reg.reg.Register(ctx, c))
	rec.waitFor(t, 20*time.Second, "a, b and c after the restart", hasAddrs(a.Addr, b.Addr, c.Addr))
	if rec.emptySeen() {
		t.Fatalf("subscriber saw an empty list: %s", rec.history())
	}
	t.Logf("subscriber: %s", rec.history())
}

// TestDigestACL: nodes created with credentials carry a digest ACL: other
// identities (anonymous or another user) can read them but not delete or
// change them, nor register under our service node; the same identity can.
func TestDigestACL(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	ctx := ctxFor(t, 60*time.Second)
	const base, secret = "/acl", "s3cret-pw"
	log := newTestLog(t)
	d := newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: base, Username: "svc-user", Password: secret, Logger: log.logger()})
	c := newClient(t, d, 2*time.Second)
	a := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:5001", Meta: core.Metadata{"weight": "1"}}
	must(t, c.reg.Register(ctx, a))
	node := base + "/svc/tcp@127.0.0.1:5001"

	acl, _, err := rawConn(t, srv.Addr(), "").GetACL(node)
	must(t, err)
	// ZooKeeper 3.6+ masks the digest in answers ("svc-user:x").
	if len(acl) != 2 || acl[0].Scheme != "digest" || !strings.HasPrefix(acl[0].ID, "svc-user:") || acl[0].Perms != zk.PermAll ||
		acl[1] != zk.WorldACL(zk.PermRead)[0] {
		t.Fatalf("ACL %+v, want digest svc-user all + world read", acl)
	}
	for who, auth := range map[string]string{"anonymous": "", "another user": "intruder:guess", "same user, wrong password": "svc-user:wrong"} {
		raw := rawConn(t, srv.Addr(), auth)
		if data, _, err := raw.Get(node); err != nil || string(data) != "weight=1" {
			t.Errorf("%s cannot read: %q %v", who, data, err)
		}
		if err := raw.Delete(node, -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("%s: delete = %v, want ErrNoAuth", who, err)
		}
		if _, err := raw.Set(node, []byte("state=inactive"), -1); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("%s: set = %v, want ErrNoAuth", who, err)
		}
		if _, err := raw.Create(base+"/svc/tcp@6.6.6.6:1", nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); !errors.Is(err, zk.ErrNoAuth) {
			t.Errorf("%s: create under our service = %v, want ErrNoAuth", who, err)
		}
		if err := raw.Delete(base+"/svc", -1); !errors.Is(err, zk.ErrNoAuth) && !errors.Is(err, zk.ErrNotEmpty) {
			t.Errorf("%s: delete service node = %v", who, err)
		}
	}
	// A subscriber without credentials still discovers (world read), as a
	// stock rpcx client, which cannot authenticate, must.
	anon := newClient(t, newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: base}), 2*time.Second)
	poll(t, 10*time.Second, "anonymous discovery", func() error {
		l, err := anon.dis.Instances(ctx, "svc")
		if err != nil || len(l) != 1 {
			return fmt.Errorf("%v %v", addrs(l), err)
		}
		return nil
	})
	// A driver without credentials cannot take the address over.
	anonD := newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: base})
	if err := anonD.Put(ctx, a, time.Second); !errors.Is(err, zk.ErrNoAuth) {
		t.Errorf("anonymous Put over our node = %v, want ErrNoAuth", err)
	}
	// The same identity can manage them.
	same := rawConn(t, srv.Addr(), "svc-user:"+secret)
	must(t, same.Delete(node, -1))
	// …and the registrar puts its node back.
	poll(t, 10*time.Second, "node re-created by the registrar", func() error {
		if ok, _, err := same.Exists(node); err != nil || !ok {
			return fmt.Errorf("exists=%v err=%v", ok, err)
		}
		return nil
	})
	if strings.Contains(log.String(), secret) {
		t.Fatalf("the password appears in the logs")
	}
	if s := (zookeeper.Config{Servers: []string{"h:1"}, Username: "u", Password: secret}).String(); strings.Contains(s, secret) {
		t.Fatalf("Config.String shows the password: %s", s)
	}
}

// TestTakeOverPreviousSession: a server restarted within the session timeout
// of its crashed predecessor registers at once, replacing the node the old
// session still holds instead of waiting for it to expire.
func TestTakeOverPreviousSession(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	raw := rawConn(t, srv.Addr(), "")
	ctx := ctxFor(t, 30*time.Second)
	p, err := faultproxy.Start(srv.Addr())
	must(t, err)
	t.Cleanup(func() { p.Close() })
	old := newDriver(t, zookeeper.Config{Servers: []string{p.Addr()}, BasePath: "/takeover", SessionTimeout: 30 * time.Second})
	a := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:6001", Meta: core.Metadata{"version": "1"}}
	must(t, old.Put(ctx, a, time.Second))
	p.Cut() // the old process is gone; its session lives on for 30s

	d := newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: "/takeover"})
	poll(t, 10*time.Second, "driver connected", func() error {
		if zookeeper.State(d) != zk.StateHasSession {
			return errors.New("not yet")
		}
		return nil
	})
	if err := d.KeepAlive(ctx, a, time.Second); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("KeepAlive of a node owned by another session = %v, want ErrNotFound", err)
	}
	a.Meta = core.Metadata{"version": "2"}
	must(t, d.Put(ctx, a, time.Second))
	data, stat, err := raw.Get("/takeover/svc/tcp@127.0.0.1:6001")
	must(t, err)
	if stat.EphemeralOwner != zookeeper.SessionID(d) || string(data) != "version=2" {
		t.Fatalf("node owned by 0x%x with %q; want ours (0x%x) with version=2", stat.EphemeralOwner, data, zookeeper.SessionID(d))
	}
	must(t, d.KeepAlive(ctx, a, time.Second))
	// Put again with the same data changes nothing; with new data it is a
	// versioned update of the same node.
	must(t, d.Put(ctx, a, time.Second))
	a.Meta = core.Metadata{"version": "3"}
	must(t, d.Put(ctx, a, time.Second))
	_, stat2, err := raw.Get("/takeover/svc/tcp@127.0.0.1:6001")
	must(t, err)
	if stat2.Czxid != stat.Czxid || stat2.Version != stat.Version+1 {
		t.Fatalf("update was not one versioned SetData: czxid %d→%d version %d→%d", stat.Czxid, stat2.Czxid, stat.Version, stat2.Version)
	}
	// Delete removes our node; a missing one is no error.
	must(t, d.Delete(ctx, a))
	must(t, d.Delete(ctx, a))
	if err := d.KeepAlive(ctx, a, time.Second); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("KeepAlive after Delete = %v, want ErrNotFound", err)
	}
}

// TestOpenURL checks the zk:// scheme: hosts, base path, credentials,
// session_timeout, and that unknown options and bad values are errors.
func TestOpenURL(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	ctx := ctxFor(t, 30*time.Second)
	b, ok := core.LookupBackend("zk")
	if !ok {
		t.Fatal("scheme zk not registered")
	}
	open := func(raw string) (core.Driver, error) {
		tg, err := core.ParseTarget(raw)
		if err != nil {
			return nil, err
		}
		p := core.NewParams(tg.Query)
		d, err := b.Open(context.Background(), tg, p)
		if err != nil {
			return nil, err
		}
		if err := p.Unread(); err != nil {
			d.Close()
			return nil, err
		}
		return d, nil
	}
	d, err := open("zk://u:p%40ss@" + srv.Addr() + ",127.0.0.1:1/from_url/?session_timeout=3s")
	must(t, err)
	t.Cleanup(func() { d.Close() })
	must(t, d.Put(ctx, core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:7001"}, time.Second))
	raw := rawConn(t, srv.Addr(), "")
	acl, _, err := raw.GetACL("/from_url/svc/tcp@127.0.0.1:7001")
	must(t, err)
	if acl[0].Scheme != "digest" || !strings.HasPrefix(acl[0].ID, "u:") {
		t.Fatalf("URL credentials not used: %+v", acl)
	}
	for _, bad := range []string{
		"zk:///path",
		"zk://" + srv.Addr() + "/p?session_timout=3s",
		"zk://" + srv.Addr() + "/p?session_timeout=soon",
		"zk://" + srv.Addr() + "/p?session_timeout=1h",
		"zk://" + srv.Addr() + "/p?session_timeout=10ms",
		"zk://" + srv.Addr() + "/a//b",
		"zk://user@" + srv.Addr() + "/p",
		"zk://" + srv.Addr() + "/zookeeper/x",
	} {
		d, err := open(bad)
		if !errors.Is(err, core.ErrInvalid) {
			if d != nil {
				d.Close()
			}
			t.Errorf("open(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if r := core.Redact("zk://u:p%40ss@h:2181/x"); strings.Contains(r, "p%40ss") || strings.Contains(r, "p@ss") {
		t.Errorf("Redact shows the password: %s", r)
	}
}

// TestNamesZooKeeperRejects: service names and addresses that cannot be
// node names fail at once with ErrInvalid, through core too, instead of being
// retried forever.
func TestNamesZooKeeperRejects(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	ctx := ctxFor(t, 30*time.Second)
	d := newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}})
	c := newClient(t, d, 2*time.Second)
	for _, in := range []core.Instance{
		{Service: ".", Addr: "tcp@127.0.0.1:1"},
		{Service: "..", Addr: "tcp@127.0.0.1:1"},
		{Service: "bell\x07", Addr: "tcp@127.0.0.1:1"},
		{Service: "svc", Addr: "tcp@127.0.0.1:1\x01"},
	} {
		if err := d.Put(ctx, in, time.Second); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("Put(%q, %q) = %v, want ErrInvalid", in.Service, in.Addr, err)
		}
		if err := c.reg.Register(ctx, in); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("Register(%q, %q) = %v, want ErrInvalid", in.Service, in.Addr, err)
		}
	}
	if _, err := c.dis.Watch(ctx, ".."); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("Watch(\"..\") = %v, want ErrInvalid", err)
	}
	if _, err := d.List(ctx, "."); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("List(\".\") = %v, want ErrInvalid", err)
	}
	// Dots inside a name are fine.
	must(t, c.reg.Register(ctx, core.Instance{Service: "a.b", Addr: "tcp@127.0.0.1:2"}))
}

// TestClosedDriver: calls after Close fail with ErrClosed, and watches end.
func TestClosedDriver(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	d, err := zookeeper.New(zookeeper.Config{Servers: []string{srv.Addr()}, Logger: newTestLog(t).logger()})
	must(t, err)
	w, err := d.Watch(context.Background(), "svc")
	must(t, err)
	if _, err := w.Next(context.Background()); err != nil {
		t.Fatalf("first Next: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := w.Next(context.Background())
		done <- err
	}()
	must(t, d.Close())
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Next returned a list after Close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next still blocked after Close")
	}
	w.Close()
	inst := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:1"}
	if err := d.Put(context.Background(), inst, time.Second); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Put after Close = %v, want ErrClosed", err)
	}
	if _, err := d.List(context.Background(), "svc"); !errors.Is(err, core.ErrClosed) {
		t.Errorf("List after Close = %v, want ErrClosed", err)
	}
	if _, err := d.Watch(context.Background(), "svc"); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Watch after Close = %v, want ErrClosed", err)
	}
}

// TestUnreachable: with no server, calls fail (or end with their context)
// instead of hanging, and Close still ends every goroutine.
func TestUnreachable(t *testing.T) {
	leakCheck(t)
	port := zktest.FreePort(t) // nothing listens there
	d := newDriver(t, zookeeper.Config{Servers: []string{fmt.Sprintf("127.0.0.1:%d", port)}})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := d.Put(ctx, core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:1"}, time.Second)
	if err == nil {
		t.Fatal("Put succeeded without a server")
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Put took %v without a server", el)
	}
	w, err := d.Watch(context.Background(), "svc")
	must(t, err)
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	if _, err := w.Next(ctx2); err == nil {
		t.Fatal("Next returned a list without a server")
	}
	w.Close()
}

// With a long refresh interval (10s here), a node lost to session expiry is
// written again as soon as the new session exists: the driver tells core
// (core.LossNotifier) instead of core finding out at its next refresh.
func TestSessionExpiryReRegistersBeforeNextRefresh(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	raw := rawConn(t, srv.Addr(), "")
	ctx := ctxFor(t, 90*time.Second)
	p, err := faultproxy.Start(srv.Addr())
	must(t, err)
	t.Cleanup(func() { p.Close() })
	d := newDriver(t, zookeeper.Config{Servers: []string{p.Addr()}, BasePath: "/notify", SessionTimeout: time.Second})
	c := newClient(t, d, 30*time.Second)
	must(t, c.reg.Register(ctx, core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:3001"}))
	node := "/notify/svc/tcp@127.0.0.1:3001"
	p.Cut()
	poll(t, 20*time.Second, "the session expiring and its node deleted", func() error {
		if ok, _, err := raw.Exists(node); err != nil || ok {
			return fmt.Errorf("exists=%v err=%v", ok, err)
		}
		return nil
	})
	p.Restore()
	restoredAt := time.Now()
	// The next refresh is up to 10s away; the notifier makes it ~immediate.
	poll(t, 5*time.Second, "the node written again on the new session", func() error {
		if ok, _, err := raw.Exists(node); err != nil || !ok {
			return fmt.Errorf("exists=%v err=%v", ok, err)
		}
		return nil
	})
	t.Logf("node back %v after the connection came back", time.Since(restoredAt).Round(time.Millisecond))
}
