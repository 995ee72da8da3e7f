package rpcxplugin_test

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedforge/discovery/internal/leaktest"
	"github.com/smallnest/rpcx/client"
	rpcxlog "github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/server"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/backend/inprocess"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/rpcxplugin"
)

func init() { rpcxlog.SetDummyLogger() }

var seq atomic.Int64

type Echo struct{ addr string }

func (e *Echo) Who(_ context.Context, _ *int, reply *string) error { *reply = e.addr; return nil }

func registry(t *testing.T) string {
	return fmt.Sprintf("inprocess://rpcxplugin-%d?ttl=600ms", seq.Add(1))
}

func open(t *testing.T, url string) *discovery.Client {
	t.Helper()
	c, err := discovery.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func leakCheck(t *testing.T) { leaktest.Check(t) }

func poll(t *testing.T, what string, ok func() bool) {
	t.Helper()
	coretest.PollUntil(t, 10*time.Second, what, ok)
}

func count(c *discovery.Client, service string) int {
	l, err := c.Instances(context.Background(), service)
	if err != nil {
		return -1
	}
	return len(l)
}

// The plugin registers nothing before the server listens, everything after,
// with rpcx's metadata, and deregisters on Shutdown.
func TestServerPluginLifecycle(t *testing.T) {
	leakCheck(t)
	url := registry(t)
	reg, cli := open(t, url), open(t, url)
	s := server.NewServer()
	s.DisableJSONRPC, s.DisableHTTPGateway = true, true // rpcx v1.9.3: racy Shutdown (see testserver.StartRPCX)
	p, err := rpcxplugin.NewServerPlugin(s, reg, rpcxplugin.WithMeta(core.Metadata{"group": "g1", "weight": "1"}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := s.RegisterName("Echo", &Echo{}, "weight=3"); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterFunctionName("Funcs", "Ping", func(context.Context, *int, *int) error { return nil }, "version=2"); err != nil {
		t.Fatal(err)
	}
	if n := count(cli, "Echo"); n != 0 {
		t.Fatalf("registered before listening: %d", n)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeListener("tcp", ln)
	poll(t, "Echo and Funcs registered", func() bool { return count(cli, "Echo") == 1 && count(cli, "Funcs") == 1 })
	l, _ := cli.Instances(context.Background(), "Echo")
	if l[0].Addr != "tcp@"+ln.Addr().String() || l[0].Meta["weight"] != "3" || l[0].Meta["group"] != "g1" {
		t.Fatalf("registered %+v", l[0])
	}
	f, _ := cli.Instances(context.Background(), "Funcs")
	if f[0].Meta["version"] != "2" {
		t.Fatalf("function metadata %+v", f[0])
	}
	// A service registered after listening is registered at once.
	if err := s.RegisterName("Late", &Echo{}, ""); err != nil {
		t.Fatal(err)
	}
	if n := count(cli, "Late"); n != 1 {
		t.Fatalf("late service: %d", n)
	}

	// Calls and connections reach the meter and are published as load.
	d, err := rpcxplugin.NewDiscovery(context.Background(), cli, "Echo")
	if err != nil {
		t.Fatal(err)
	}
	xc := client.NewXClient("Echo", client.Failfast, client.RoundRobin, d, client.DefaultOption)
	for range 20 {
		var who string
		if err := xc.Call(context.Background(), "Who", new(int), &who); err != nil {
			t.Fatal(err)
		}
	}
	// rpcx runs PostWriteResponse after the reply is on the wire, so the
	// last count may land just after the client saw its answer.
	poll(t, "20 calls counted", func() bool { return reg.Meter().Calls() == 20 })
	poll(t, "tps published", func() bool {
		l, err := cli.Instances(context.Background(), "Echo")
		return err == nil && len(l) == 1 && l[0].Meta[core.MetaCallsTotal] == "20" && l[0].Meta[core.MetaConnectionsOpen] == "1" &&
			rpcxRate.MatchString(l[0].Meta[core.MetaCalls]) && rpcxRate.MatchString(l[0].Meta[core.MetaConnections])
	})
	xc.Close()
	d.Close()

	shutdown(t, s, ln)
	for _, svc := range []string{"Echo", "Funcs", "Late"} {
		if n := count(cli, svc); n != 0 {
			t.Fatalf("%s still registered after Shutdown: %d", svc, n)
		}
	}
}

func TestServerPluginNeedsReachableAddress(t *testing.T) {
	leakCheck(t)
	url := registry(t)
	reg, cli := open(t, url), open(t, url)
	if _, err := rpcxplugin.NewServerPlugin(server.NewServer(), reg, rpcxplugin.WithAddress("10.0.0.1:8972")); err == nil {
		t.Fatal("address without network@ accepted")
	}
	s := server.NewServer()
	s.DisableJSONRPC, s.DisableHTTPGateway = true, true // rpcx v1.9.3: racy Shutdown (see testserver.StartRPCX)
	p, err := rpcxplugin.NewServerPlugin(s, reg, rpcxplugin.WithAddress("tcp@10.1.2.3:8972"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s.RegisterName("Echo", &Echo{}, "")
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeListener("tcp", ln)
	defer ln.Close()
	defer s.Close()
	poll(t, "advertised address registered", func() bool {
		l, err := cli.Instances(context.Background(), "Echo")
		return err == nil && len(l) == 1 && l[0].Addr == "tcp@10.1.2.3:8972"
	})
}

// The adapter speaks rpcx's ServiceDiscovery exactly: Key network@addr,
// Value the URL-query metadata; watchers, filters, clones and Close.
func TestDiscoveryAdapter(t *testing.T) {
	leakCheck(t)
	url := registry(t)
	reg, cli := open(t, url), open(t, url)
	ctx := context.Background()
	must(t, reg.Register(ctx, core.Instance{Service: "A", Addr: "tcp@127.0.0.1:1", Meta: core.Metadata{"weight": "2", "group": "x"}}))
	must(t, reg.Register(ctx, core.Instance{Service: "B", Addr: "tcp@127.0.0.1:9"}))

	d, err := rpcxplugin.NewDiscovery(ctx, cli, "A")
	must(t, err)
	pairs := d.GetServices()
	if len(pairs) != 1 || pairs[0].Key != "tcp@127.0.0.1:1" || pairs[0].Value != "group=x&weight=2" {
		t.Fatalf("GetServices = %+v", pairs[0])
	}
	ch := d.WatchService()
	must(t, reg.Register(ctx, core.Instance{Service: "A", Addr: "tcp@127.0.0.1:2"}))
	waitPairs(t, ch, 2)

	d.SetFilter(func(kv *client.KVPair) bool { return kv.Key != "tcp@127.0.0.1:1" })
	if got := d.GetServices(); len(got) != 1 || got[0].Key != "tcp@127.0.0.1:2" {
		t.Fatalf("filter not applied: %+v", got)
	}

	other, err := d.Clone("B")
	must(t, err)
	if got := other.GetServices(); len(got) != 1 || got[0].Key != "tcp@127.0.0.1:9" {
		t.Fatalf("Clone(B) = %+v", got)
	}
	other.Close()

	d.RemoveWatcher(ch)
	if _, open := <-ch; open {
		// one buffered value may remain; the channel must end closed
		for range ch {
		}
	}
	d.Close()
	// A watcher asked for after Close is closed at once.
	if _, open := <-d.WatchService(); open {
		t.Fatal("watch after Close is open")
	}
}

func TestDiscoveryWaitsForFirstList(t *testing.T) {
	leakCheck(t)
	c := open(t, registry(t))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// An empty service still has a first list: an empty one, delivered.
	d, err := rpcxplugin.NewDiscovery(context.Background(), c, "Nobody")
	must(t, err)
	if len(d.GetServices()) != 0 {
		t.Fatal("services of an empty registry")
	}
	d.Close()
	if _, err := rpcxplugin.NewDiscovery(ctx, c, "bad/name"); err == nil {
		t.Fatal("bad service name accepted")
	}
}

func waitPairs(t *testing.T, ch chan []*client.KVPair, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-ch:
			if len(p) == n {
				return
			}
		case <-deadline:
			t.Fatalf("never saw %d pairs", n)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// A server that starts while its registry is unreachable, for longer than
// the plugin's timeout, is registered once the registry answers, without
// a restart: rpcx's own Register does not fail, and the registration is
// pending meanwhile (issue 10 §1).
func TestServerPluginRegistersAfterLateRegistry(t *testing.T) {
	leakCheck(t)
	name := fmt.Sprintf("rpcxplugin-late-%d", seq.Add(1))
	url := "inprocess://" + name + "?ttl=600ms"
	reg, cli := open(t, url), open(t, url)
	store := inprocess.Lookup(name)
	store.SetDown(true)
	s := server.NewServer()
	s.DisableJSONRPC, s.DisableHTTPGateway = true, true // rpcx v1.9.3: racy Shutdown (see testserver.StartRPCX)
	p, err := rpcxplugin.NewServerPlugin(s, reg, rpcxplugin.WithTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.ServeListener("tcp", ln)
	<-s.Started
	if err := s.RegisterName("Echo", &Echo{}, ""); err != nil {
		t.Fatalf("rpcx Register during the outage: %v", err)
	}
	poll(t, "the registration pending", func() bool {
		st := reg.Status()
		return len(st) == 1 && st[0].State == core.StateRetrying && st[0].LastError != ""
	})
	store.SetDown(false)
	poll(t, "Echo registered once the registry answers", func() bool { return count(cli, "Echo") == 1 })
	shutdown(t, s, ln)
	if n := count(cli, "Echo"); n != 0 {
		t.Fatalf("Echo still registered after Shutdown: %d", n)
	}
}

// shutdown stops s the way a server does (Shutdown deregisters), then ends
// what rpcx's Shutdown leaves running (its cmux accept loops on the raw
// listener, conn handlers) so the leak check sees only ours.
func shutdown(t *testing.T, s *server.Server, ln net.Listener) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ln.Close()
}

// rpcxRate is how stock rpcx writes calls and connections: go-metrics mean
// rates per second, %.2f; a tool reading rpcx metadata must find that here.
var rpcxRate = regexp.MustCompile(`^[0-9]+\.[0-9]{2}$`)
