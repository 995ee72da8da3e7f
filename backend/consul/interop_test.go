//go:build consul

package consul

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rpcxio/libkv"
	"github.com/rpcxio/libkv/store"
	libkvconsul "github.com/rpcxio/libkv/store/consul"
	rpcxclient "github.com/smallnest/rpcx/client"
	rpcxlog "github.com/smallnest/rpcx/log"
	"github.com/smallnest/rpcx/server"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/leaktest"
	"github.com/seedforge/discovery/rpcxplugin"
)

func init() { rpcxlog.SetDummyLogger() }

type MulArgs struct{ A, B int }

type MulReply struct {
	C      int
	Server string
}

type Arith struct{ addr string }

func (a *Arith) Mul(_ context.Context, args *MulArgs, r *MulReply) error {
	r.C, r.Server = args.A*args.B, a.addr
	return nil
}

// startRPCX serves Arith on a free loopback port, unregistered; returns its
// rpcx address.
func startRPCX(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	addr := "tcp@" + ln.Addr().String()
	s := server.NewServer()
	s.DisableJSONRPC, s.DisableHTTPGateway = true, true // rpcx v1.9.3: racy Shutdown (see testserver.StartRPCX)
	must(t, s.RegisterName("Arith", &Arith{addr: addr}, ""))
	go s.ServeListener("tcp", ln)
	select {
	case <-s.Started:
	case <-time.After(10 * time.Second):
		t.Fatal("rpcx server did not start")
	}
	t.Cleanup(func() { s.Close() })
	return addr
}

func call(t *testing.T, xc rpcxclient.XClient) MulReply {
	t.Helper()
	var r MulReply
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	must(t, xc.Call(ctx, "Mul", &MulArgs{A: 6, B: 7}, &r))
	if r.C != 42 {
		t.Fatalf("Mul = %d", r.C)
	}
	return r
}

// TestRPCXInterop checks mode=kv against rpcx's own Consul code path. rpcx's
// Consul plugin (github.com/rpcxio/rpcx-consul) is not served by the module
// proxy, so the test drives the store it is built on, rpcxio/libkv's Consul
// store, the way that plugin's source does:
//   - a stock server registers as ConsulRegisterPlugin.Register does (the
//     base path without its leading '/', two marker keys, then the instance
//     key with the metadata as value and a TTL of twice the update interval,
//     i.e. a libkv session of one interval); our client finds it with its
//     metadata, calls it through rpcxplugin, and sees it go when that
//     server's process stops renewing;
//   - our server registers through core; the stock client lists as
//     ConsulDiscovery does (List of {base}/{service}, keys under
//     "{base}/{service}/" trimmed to the address) and calls it with rpcx's
//     own XClient.
func TestRPCXInterop(t *testing.T) {
	leaktest.Check(t)
	a := sharedAgent(t)
	t.Cleanup(http.DefaultTransport.(*http.Transport).CloseIdleConnections) // libkv uses http.DefaultClient
	libkvconsul.Register()
	kv, err := libkv.NewStore(store.CONSUL, []string{a.Addr}, nil)
	must(t, err)
	ctx := ctxFor(t, time.Minute)
	const basePath = "/rpcx_interop" // as rpcx users write it
	base := strings.TrimPrefix(basePath, "/")

	// Our side: one driver as the server, one as the client, on the same
	// base path as the stock side.
	cfg := testConfig(a, ModeKV, Config{BasePath: basePath})
	newD := func() core.Driver {
		d, err := New(cfg)
		must(t, err)
		t.Cleanup(func() { d.Close() })
		return d
	}
	opts := core.Options{TTL: kvTTL, Logger: testLogger(t)}
	dis, err := core.NewDiscovery(newD(), opts)
	must(t, err)
	t.Cleanup(func() { dis.Close() })
	reg, err := core.NewRegistrar(newD(), opts)
	must(t, err)
	t.Cleanup(func() { reg.Close() })

	t.Run("stock server, our client", func(t *testing.T) {
		stock := startRPCX(t)
		must(t, kv.Put(base, []byte("rpcx_path"), &store.WriteOptions{IsDir: true}))
		must(t, kv.Put(base+"/Arith", []byte("Arith"), &store.WriteOptions{IsDir: true}))
		const update = 2 * time.Second // the plugin's UpdateInterval; TTL = 2×
		must(t, kv.Put(base+"/Arith/"+stock, []byte("weight=5&group=stock"), &store.WriteOptions{TTL: 2 * update}))
		put := time.Now()

		ch, err := dis.Watch(ctx, "Arith")
		must(t, err)
		got := coretest.Next(t, ch, 10*time.Second, "the stock server", coretest.HasAddrs(stock))
		if got[0].Meta["weight"] != "5" || got[0].Meta["group"] != "stock" {
			t.Errorf("stock server's metadata read as %v", got[0].Meta)
		}
		rd, err := rpcxplugin.NewDiscovery(ctx, dis, "Arith")
		must(t, err)
		xc := rpcxclient.NewXClient("Arith", rpcxclient.Failfast, rpcxclient.RoundRobin, rd, rpcxclient.DefaultOption)
		if r := call(t, xc); r.Server != stock {
			t.Errorf("answered by %s, want %s", r.Server, stock)
		}
		xc.Close()
		rd.Close()
		// The stock server's process dies: nobody renews its libkv session,
		// which deletes the key one TTL (2 intervals) later.
		coretest.Next(t, ch, 2*update+10*time.Second, "the stock server gone", coretest.HasAddrs())
		t.Logf("stock server's record left the list %v after its only write (rpcx TTL %v)", time.Since(put).Round(time.Millisecond), 2*update)
	})

	t.Run("our server, stock client", func(t *testing.T) {
		ours := startRPCX(t)
		must(t, reg.Register(ctx, core.Instance{Service: "Arith", Addr: ours, Meta: core.Metadata{"weight": "7", "group": "ours"}}))
		// rpcx-consul's ConsulDiscovery: kv.List(basePath+"/"+service), keep
		// the keys under the prefix "…/", trimmed to the address.
		ps, err := kv.List(base + "/Arith")
		must(t, err)
		var pairs []*rpcxclient.KVPair
		prefix := base + "/Arith/"
		for _, p := range ps {
			if !strings.HasPrefix(p.Key, prefix) {
				continue
			}
			pairs = append(pairs, &rpcxclient.KVPair{Key: strings.TrimPrefix(p.Key, prefix), Value: string(p.Value)})
		}
		if len(pairs) != 1 || pairs[0].Key != ours || pairs[0].Value != "group=ours&weight=7" {
			t.Fatalf("stock client lists %+v, want %s with group=ours&weight=7", pairs, ours)
		}
		d, err := rpcxclient.NewMultipleServersDiscovery(pairs)
		must(t, err)
		xc := rpcxclient.NewXClient("Arith", rpcxclient.Failfast, rpcxclient.RoundRobin, d, rpcxclient.DefaultOption)
		defer xc.Close()
		if r := call(t, xc); r.Server != ours {
			t.Errorf("answered by %s, want %s", r.Server, ours)
		}
	})
}
