package grpcdiscovery_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seedforge/discovery/backend/inprocess"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/grpcdiscovery"
	"github.com/seedforge/discovery/internal/proctest"
)

type syncBuffer = proctest.Buffer

// The resolver pushes one address per dialable instance, host:port only,
// with the instance and its metadata in BalancerAttributes (also found on
// the endpoints gRPC derives); non-tcp and unspecified addresses are
// skipped with a logged reason; later lists replace the state, and a
// genuinely empty list empties it.
func TestResolverState(t *testing.T) {
	leakCheck(t)
	resetRecorder()
	url, _ := newRegistry("")
	reg, cli := open(t, url), open(t, url)
	ctx := context.Background()
	for _, inst := range []core.Instance{
		{Service: "Echo", Addr: "tcp@127.0.0.1:1", Meta: core.Metadata{"weight": "3", "group": "x"}},
		{Service: "Echo", Addr: "tcp6@[::1]:2", Meta: core.Metadata{"group": "y"}},
		{Service: "Echo", Addr: "unix@/tmp/echo.sock"},
		{Service: "Echo", Addr: "tcp@0.0.0.0:3"},
	} {
		must(t, reg.Register(ctx, inst))
	}
	var logs syncBuffer
	b := grpcdiscovery.NewBuilder(cli, grpcdiscovery.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	conn, err := grpc.NewClient("discovery:///Echo", grpc.WithResolvers(b),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpcdiscovery.WithBalancer(recorderPolicy))
	must(t, err)
	defer conn.Close()
	conn.Connect() // leave idle mode: builds the resolver

	poll(t, "first state", func() bool { return joined(lastAddrs()) == "[::1]:2,127.0.0.1:1" }) // core sorts by addr: tcp6@ < tcp@
	st := recordedStates()[len(recordedStates())-1]
	inst, ok := grpcdiscovery.AddressInstance(st.Addresses[1])
	if !ok || inst.Addr != "tcp@127.0.0.1:1" || inst.Service != "Echo" || inst.Meta["weight"] != "3" || inst.Meta.Weight() != 3 {
		t.Fatalf("address instance = %+v, %v", inst, ok)
	}
	if st.Addresses[1].Attributes != nil {
		t.Fatalf("metadata must not be in Attributes (SubConn identity): %v", st.Addresses[1].Attributes)
	}
	if len(st.Endpoints) != 2 {
		t.Fatalf("endpoints = %v", st.Endpoints)
	}
	if inst, ok := grpcdiscovery.EndpointInstance(st.Endpoints[0]); !ok || inst.Addr != "tcp6@[::1]:2" || inst.Meta["group"] != "y" {
		t.Fatalf("endpoint instance = %+v, %v", inst, ok)
	}
	for _, want := range []string{`addr=unix@/tmp/echo.sock reason="network \"unix\" is not tcp`, `addr=tcp@0.0.0.0:3 reason="host \"0.0.0.0\"`} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("log lacks %q:\n%s", want, logs.String())
		}
	}
	// A skipped instance is reported once, not at every list.
	must(t, reg.Register(ctx, core.Instance{Service: "Echo", Addr: "tcp@127.0.0.1:4"}))
	poll(t, "third address", func() bool { return joined(lastAddrs()) == "[::1]:2,127.0.0.1:1,127.0.0.1:4" })
	if n := strings.Count(logs.String(), "unix@/tmp/echo.sock"); n != 1 {
		t.Fatalf("skip logged %d times:\n%s", n, logs.String())
	}

	// Metadata changes reach the state.
	must(t, reg.Register(ctx, core.Instance{Service: "Echo", Addr: "tcp@127.0.0.1:1", Meta: core.Metadata{"weight": "7"}}))
	poll(t, "new weight", func() bool {
		st := recordedStates()
		inst, _ := grpcdiscovery.AddressInstance(st[len(st)-1].Addresses[1])
		return inst.Meta["weight"] == "7"
	})

	// Everything gone: an empty state, not the last one.
	for _, a := range []string{"tcp@127.0.0.1:1", "tcp6@[::1]:2", "unix@/tmp/echo.sock", "tcp@0.0.0.0:3", "tcp@127.0.0.1:4"} {
		must(t, reg.Deregister(ctx, core.Instance{Service: "Echo", Addr: a}))
	}
	poll(t, "empty state", func() bool { return len(recordedStates()) > 0 && len(lastAddrs()) == 0 })
}

// With no instance registered, calls fail at once with an error that names
// the service; a call that waits for ready goes through as soon as a server
// registers.
func TestNoInstances(t *testing.T) {
	leakCheck(t)
	url, _ := newRegistry("")
	cli := open(t, url)
	conn := dial(t, cli, "discovery:///Echo", grpcdiscovery.P2C)
	ctx := context.Background()
	// gRPC reports its own "produced zero addresses" until the resolver's
	// error, sent just after the empty state, lands.
	poll(t, "the resolver's error", func() bool {
		_, err := call(ctx, conn)
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("call with no instance: %v", err)
		}
		return strings.Contains(err.Error(), `no instance of "Echo" is registered`)
	})
	type result struct {
		who string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out := new(wrapperspb.StringValue)
		err := conn.Invoke(ctx, echoMethod, wrapperspb.String("hi"), out, grpc.WaitForReady(true))
		done <- result{out.GetValue(), err}
	}()
	s := startServer(t, url, serverConfig{})
	select {
	case r := <-done:
		if r.err != nil || r.who != s.addr {
			t.Fatalf("wait-for-ready call: %q, %v", r.who, r.err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("wait-for-ready call never answered")
	}
	must(t, s.deregister(ctx))
	poll(t, "failing again", func() bool {
		_, err := call(ctx, conn)
		return status.Code(err) == codes.Unavailable
	})
}

// Target parameters group and version filter the list; core's own filters
// (WithWatchOptions) apply too.
func TestResolverFilters(t *testing.T) {
	leakCheck(t)
	resetRecorder()
	url, _ := newRegistry("")
	reg, cli := open(t, url), open(t, url)
	ctx := context.Background()
	must(t, reg.Register(ctx, core.Instance{Service: "Echo", Addr: "tcp@127.0.0.1:1", Meta: core.Metadata{"group": "blue", "version": "2"}}))
	must(t, reg.Register(ctx, core.Instance{Service: "Echo", Addr: "tcp@127.0.0.1:2", Meta: core.Metadata{"group": "blue", "version": "1"}}))
	must(t, reg.Register(ctx, core.Instance{Service: "Echo", Addr: "tcp@127.0.0.1:3", Meta: core.Metadata{"group": "green"}}))

	conn := dial(t, cli, "discovery:///Echo?group=blue&version=2", recorderPolicy)
	conn.Connect()
	poll(t, "blue v2 only", func() bool { return joined(lastAddrs()) == "127.0.0.1:1" })
	conn.Close()

	resetRecorder()
	b := grpcdiscovery.NewBuilder(cli, grpcdiscovery.WithWatchOptions(core.WithGroup("green")))
	conn2, err := grpc.NewClient("discovery:///Echo", grpc.WithResolvers(b),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpcdiscovery.WithBalancer(recorderPolicy))
	must(t, err)
	defer conn2.Close()
	conn2.Connect()
	poll(t, "green only", func() bool { return joined(lastAddrs()) == "127.0.0.1:3" })
}

// A target the resolver cannot serve fails the call that wakes the channel
// with the reason, instead of leaving it waiting.
func TestResolverBuildErrors(t *testing.T) {
	leakCheck(t)
	url, _ := newRegistry("")
	cli := open(t, url)
	for target, want := range map[string]string{
		"discovery:///a/b":           "must not contain '/'",
		"discovery:///":              "missing service name",
		"discovery://host/Echo":      `the authority "host" is not used`,
		"discovery:///Echo?zone=eu1": `unknown parameter "zone"`,
	} {
		conn := dial(t, cli, target, grpcdiscovery.P2C)
		_, err := call(context.Background(), conn)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", target, err, want)
		}
		conn.Close()
	}

	closed := open(t, url)
	closed.Close()
	conn := dial(t, closed, "discovery:///Echo", grpcdiscovery.P2C)
	if _, err := call(context.Background(), conn); err == nil || !strings.Contains(err.Error(), core.ErrClosed.Error()) {
		t.Errorf("closed discovery: err = %v", err)
	}
}

// WithScheme lets one process use several registries side by side.
func TestSchemePerBackend(t *testing.T) {
	leakCheck(t)
	urlA, _ := newRegistry("")
	urlB, _ := newRegistry("")
	a := startServer(t, urlA, serverConfig{})
	b := startServer(t, urlB, serverConfig{})
	cliA, cliB := open(t, urlA), open(t, urlB)
	conn, err := grpc.NewClient("east:///Echo",
		grpc.WithResolvers(
			grpcdiscovery.NewBuilder(cliA, grpcdiscovery.WithScheme("east")),
			grpcdiscovery.NewBuilder(cliB, grpcdiscovery.WithScheme("West"))), // lower-cased
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	must(t, err)
	defer conn.Close()
	conn2, err := grpc.NewClient("west:///Echo",
		grpc.WithResolvers(grpcdiscovery.NewBuilder(cliB, grpcdiscovery.WithScheme("West"))),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	must(t, err)
	defer conn2.Close()
	if who, err := call(context.Background(), conn); err != nil || who != a.addr {
		t.Fatalf("east: %q, %v", who, err)
	}
	if who, err := call(context.Background(), conn2); err != nil || who != b.addr {
		t.Fatalf("west: %q, %v", who, err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("invalid scheme accepted")
		}
	}()
	grpcdiscovery.NewBuilder(cliA, grpcdiscovery.WithScheme("no scheme"))
}

// Closing the Discovery under a live channel ends the watch but not the
// channel: it keeps its connections and calls keep working.
func TestDiscoveryClosedKeepsChannel(t *testing.T) {
	leakCheck(t)
	url, _ := newRegistry("")
	s := startServer(t, url, serverConfig{})
	cli := open(t, url)
	conn := dial(t, cli, "discovery:///Echo", grpcdiscovery.P2C)
	warmUp(t, conn, s)
	must(t, cli.Close())
	for range 20 {
		if who, err := call(context.Background(), conn); err != nil || who != s.addr {
			t.Fatalf("after Discovery.Close: %q, %v", who, err)
		}
	}
}

// During a registry outage core keeps the last list and the resolver pushes
// nothing: calls keep flowing to every known server, a channel built during
// the outage starts from the cached list, and the watch comes back after.
func TestRegistryOutage(t *testing.T) {
	leakCheck(t)
	url, name := newRegistry("")
	servers := []*testServer{
		startServer(t, url, serverConfig{}),
		startServer(t, url, serverConfig{}),
		startServer(t, url, serverConfig{}),
	}
	cli := open(t, url)
	conn := dial(t, cli, "discovery:///Echo", grpcdiscovery.Weighted)
	warmUp(t, conn, servers...)

	store := inprocess.Lookup(name)
	store.SetDown(true)
	t.Cleanup(func() { store.SetDown(false) })
	if _, err := cli.Instances(context.Background(), "Other"); !errors.Is(err, inprocess.ErrUnavailable) {
		t.Fatalf("registry not down: %v", err)
	}
	poll(t, "the watch broken", func() bool { return store.Watches("Echo") == 0 })

	counts := spread(t, context.Background(), conn, 90)
	for _, s := range servers {
		if counts[s.addr] != 30 {
			t.Fatalf("during the outage: %v", counts)
		}
	}
	conn2 := dial(t, cli, "discovery:///Echo", grpcdiscovery.Weighted)
	warmUp(t, conn2, servers...)

	store.SetDown(false)
	poll(t, "the watch reopened", func() bool { return store.Watches("Echo") == 1 })
	extra := startServer(t, url, serverConfig{})
	warmUp(t, conn, append(servers, extra)...)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
