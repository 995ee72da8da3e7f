//go:build etcd

package etcd

import (
	"fmt"
	"testing"
	"time"

	rpcxetcd "github.com/rpcxio/rpcx-etcd/client"
	"github.com/rpcxio/rpcx-etcd/serverplugin"
	rpcxclient "github.com/smallnest/rpcx/client"
	rpcxlog "github.com/smallnest/rpcx/log"
	"go.uber.org/goleak"

	"github.com/seedforge/discovery/core"
)

// rpcx's own etcd v3 registry code (github.com/rpcxio/rpcx-etcd v0.5.0, the
// registry rpcx v1.9.3 documents) against ours on one etcd server: each
// side finds what the other registered.

// rpcxLeaks ignores rpcx-etcd's WatchTree goroutine: its discovery's Close
// does not wait for it, and it can stay blocked sending a list to a channel
// nobody reads any more (rpcx-etcd's leak, in code we only test against).
var rpcxLeaks = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/rpcxio/rpcx-etcd/store/etcdv3.(*EtcdV3).WatchTree.func1"),
}

// rpcx's rpcx_test base path, with its leading slash, as in rpcx's examples.
const rpcxBase = "/rpcx_test"

func TestRPCXServerFoundByUs(t *testing.T) {
	// rpcx also takes a base path without a leading slash; a URL names it
	// with ?base_path=rpcx_noslash (TestOpenURL), which sets this Config.
	for _, base := range []string{rpcxBase, "rpcx_noslash"} {
		t.Run(base, func(t *testing.T) { rpcxServerFoundByUs(t, base) })
	}
}

func rpcxServerFoundByUs(t *testing.T, base string) {
	leakCheck(t, rpcxLeaks...)
	rpcxlog.SetDummyLogger()
	srv := startServer(t)
	ctx := ctxT(t, time.Minute)
	// rpcx's server plugin, as in rpcx's etcd registry example.
	p := &serverplugin.EtcdV3RegisterPlugin{
		ServiceAddress: "tcp@127.0.0.1:8972",
		EtcdServers:    []string{srv.endpoint()},
		BasePath:       base,
		UpdateInterval: time.Minute,
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			p.Stop()
		}
	})
	// rpcx-etcd v0.5.0's Register, without ServerStarted, writes the paths of
	// the previous Register call (it stores the new ones after writing), so
	// a stock server's first service appears with its second Register or
	// at the first refresh, UpdateInterval later. Registering twice writes it.
	for range 2 {
		if err := p.Register("Arith", nil, "weight=3&group=blue"); err != nil {
			t.Fatal(err)
		}
	}
	ours := newClient(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: base})
	ch, err := ours.dis.Watch(ctx, "Arith")
	if err != nil {
		t.Fatal(err)
	}
	got := recv(t, ch, 10*time.Second, "rpcx's server", hasAddrs("tcp@127.0.0.1:8972"))
	if got[0].Meta["weight"] != "3" || got[0].Meta["group"] != "blue" {
		t.Fatalf("metadata %v", got[0].Meta)
	}
	// rpcx's plugin also writes "directory" keys /rpcx_test and
	// /rpcx_test/Arith; they are not under the service's prefix.
	p.Stop()
	stopped = true
	recv(t, ch, 10*time.Second, "rpcx's server gone after its Stop", hasAddrs())
}

func TestUsFoundByRPCXClient(t *testing.T) {
	leakCheck(t, rpcxLeaks...)
	rpcxlog.SetDummyLogger()
	srv := startServer(t)
	ctx := ctxT(t, time.Minute)
	ours := newClient(t, Config{Endpoints: []string{srv.endpoint()}, BasePath: rpcxBase})
	a := core.Instance{Service: "Arith", Addr: "tcp@127.0.0.1:9001", Meta: core.Metadata{"weight": "2", "group": "g"}}
	b := core.Instance{Service: "Arith", Addr: "tcp@127.0.0.1:9002"}
	for _, in := range []core.Instance{a, b} {
		if err := ours.reg.Register(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	// rpcx's stock etcd v3 discovery, as an rpcx XClient would use it.
	watchers := serverWatchers(t)
	d, err := rpcxetcd.NewEtcdV3Discovery(rpcxBase, "Arith", []string{srv.endpoint()}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// rpcx's discovery lists, then starts its etcd watch from "now" in a
	// goroutine: changes in between are lost (rpcx's race, not ours). Wait
	// until etcd holds its watch before changing anything.
	poll(t, 10*time.Second, "rpcx's watch open on the server", func() error {
		if n := serverWatchers(t); n <= watchers {
			return fmt.Errorf("%d watchers, had %d", n, watchers)
		}
		return nil
	})
	pairs := d.GetServices()
	want := map[string]string{a.Addr: "group=g&weight=2", b.Addr: ""}
	if got := pairMap(pairs); !equalMaps(got, want) {
		t.Fatalf("rpcx sees %v, want %v", got, want)
	}
	ch := d.WatchService()
	defer d.RemoveWatcher(ch)
	if err := ours.reg.Deregister(ctx, b); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case pairs := <-ch:
			if got := pairMap(pairs); equalMaps(got, map[string]string{a.Addr: "group=g&weight=2"}) {
				return
			}
		case <-deadline:
			t.Fatalf("rpcx never saw the deregistration; it has %v", pairMap(d.GetServices()))
		}
	}
}

func pairMap(pairs []*rpcxclient.KVPair) map[string]string {
	out := map[string]string{}
	for _, p := range pairs {
		out[p.Key] = p.Value
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
