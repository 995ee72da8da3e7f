package grpcdiscovery_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/seedforge/discovery/backend/inprocess"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/grpcdiscovery"
)

// Register advertises the listener's address, refuses addresses no client
// can dial with an error that names the fix, and returns an idempotent
// deregister function.
func TestRegister(t *testing.T) {
	leakCheck(t)
	url, _ := newRegistry("")
	reg, cli := open(t, url), open(t, url)
	ctx := context.Background()
	addrs := func() string {
		l, err := cli.Instances(ctx, "Echo")
		must(t, err)
		var out []string
		for _, in := range l {
			out = append(out, in.Addr+"?"+in.Meta.Encode())
		}
		return strings.Join(out, " ")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	dereg, err := grpcdiscovery.Register(ctx, reg, "Echo", ln, core.Metadata{"weight": "2"})
	must(t, err)
	if got, want := addrs(), "tcp@"+ln.Addr().String()+"?protocol=grpc&weight=2"; got != want {
		t.Fatalf("registered %q, want %q", got, want)
	}
	must(t, dereg(ctx))
	must(t, dereg(ctx)) // second call: no-op
	if got := addrs(); got != "" {
		t.Fatalf("still registered: %q", got)
	}

	all, err := net.Listen("tcp", "0.0.0.0:0")
	must(t, err)
	defer all.Close()
	_, err = grpcdiscovery.Register(ctx, reg, "Echo", all, nil)
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "WithAdvertiseAddr") {
		t.Fatalf("unspecified listener: %v", err)
	}
	port := strconv.Itoa(all.Addr().(*net.TCPAddr).Port)
	for adv, want := range map[string]string{
		"10.1.2.3":             "tcp@10.1.2.3:" + port, // the listener's port
		"tcp@10.1.2.4:9000":    "tcp@10.1.2.4:9000",
		"host.example:9001":    "tcp@host.example:9001",
		"[2001:db8::1]":        "tcp@[2001:db8::1]:" + port,
		"tcp6@[2001:db8::2]:1": "tcp@[2001:db8::2]:1",
	} {
		d, err := grpcdiscovery.Register(ctx, reg, "Echo", all, nil, grpcdiscovery.WithAdvertiseAddr(adv))
		must(t, err)
		if got := addrs(); got != want+"?protocol=grpc" {
			t.Fatalf("advertised %q: registered %q, want %q", adv, got, want)
		}
		must(t, d(ctx))
	}
	for _, bad := range []string{"0.0.0.0:80", "unix@/tmp/s", ":80", "10.0.0.1:0"} {
		if _, err := grpcdiscovery.Register(ctx, reg, "Echo", all, nil, grpcdiscovery.WithAdvertiseAddr(bad)); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("advertised %q accepted: %v", bad, err)
		}
	}
	if _, err := grpcdiscovery.Register(ctx, reg, "Echo", nil, nil, grpcdiscovery.WithAdvertiseAddr("10.0.0.1")); err == nil {
		t.Error("bare host without a listener accepted")
	}
	if _, err := grpcdiscovery.Register(ctx, reg, "bad/name", ln, nil); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("bad service name: %v", err)
	}
	unix, err := net.Listen("unix", filepath.Join(t.TempDir(), "s.sock"))
	must(t, err)
	defer unix.Close()
	if _, err := grpcdiscovery.Register(ctx, reg, "Echo", unix, nil); !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "not tcp") {
		t.Errorf("unix listener: %v", err)
	}
}

// The interceptors mark the registrar's meter once per unary call and per
// stream, the stats handler counts connections, and the registration
// publishes both.
func TestServerMeter(t *testing.T) {
	leakCheck(t)
	url, _ := newRegistry("ttl=600ms") // refresh every 200ms
	s := startServer(t, url, serverConfig{})
	cli := open(t, url)
	conn := dial(t, cli, "discovery:///Echo", grpcdiscovery.P2C)
	ctx := context.Background()
	for range 20 {
		_, err := call(ctx, conn)
		must(t, err)
	}
	for range 5 {
		st, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, echoStream)
		must(t, err)
		for range 3 {
			must(t, st.SendMsg(wrapperspb.String("hi")))
			out := new(wrapperspb.StringValue)
			must(t, st.RecvMsg(out))
			if out.GetValue() != s.addr {
				t.Fatalf("stream answered by %q", out.GetValue())
			}
		}
		must(t, st.CloseSend())
		if err := st.RecvMsg(new(wrapperspb.StringValue)); err == nil {
			t.Fatal("stream did not end")
		}
	}
	m := s.reg.Meter()
	if m.Calls() != 25 || m.Connections() != 1 {
		t.Fatalf("meter: %d calls, %d connections; want 25 and 1", m.Calls(), m.Connections())
	}
	poll(t, "load published", func() bool {
		l, err := cli.Instances(ctx, "Echo")
		return err == nil && len(l) == 1 && l[0].Meta[core.MetaCallsTotal] == "25" &&
			l[0].Meta[core.MetaConnectionsOpen] == "1" && l[0].Meta[core.MetaTPS] != ""
	})
	conn.Close()
	poll(t, "connection closed", func() bool { return m.Connections() == 0 })
}

// A deregistered server gets no more calls, though it still serves; and a
// server deregistered then stopped with GracefulStop under steady load
// costs no failed call.
func TestDeregisterAndGracefulStop(t *testing.T) {
	leakCheck(t)
	url, _ := newRegistry("")
	a := startServer(t, url, serverConfig{})
	b := startServer(t, url, serverConfig{})
	c := startServer(t, url, serverConfig{})
	conn := dial(t, open(t, url), "discovery:///Echo", grpcdiscovery.Weighted)
	warmUp(t, conn, a, b, c)
	ctx := context.Background()

	must(t, b.deregister(ctx))
	poll(t, "b out of rotation", func() bool {
		counts := spread(t, ctx, conn, 20)
		return counts[b.addr] == 0
	})
	before := b.echo.calls.Load()
	if counts := spread(t, ctx, conn, 100); counts[b.addr] != 0 || b.echo.calls.Load() != before {
		t.Fatalf("deregistered server still called: %v", counts)
	}

	// Four callers keep the channel busy while a leaves.
	var (
		stop           = make(chan struct{})
		wg             sync.WaitGroup
		total, failed  atomic.Int64
		firstFailure   atomic.Value
		callsAfterStop atomic.Int64
		aStopped       atomic.Bool
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := aStopped.Load()
				who, err := call(ctx, conn)
				total.Add(1)
				if err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
				} else if who == a.addr && after {
					callsAfterStop.Add(1)
				}
			}
		}()
	}
	poll(t, "load running", func() bool { return total.Load() > 50 })
	must(t, a.deregister(ctx))
	a.srv.GracefulStop()
	aStopped.Store(true)
	mark := total.Load()
	poll(t, "load after the stop", func() bool { return total.Load() > mark+200 })
	close(stop)
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d calls failed during the graceful stop; first: %v", n, total.Load(), firstFailure.Load())
	}
	if n := callsAfterStop.Load(); n != 0 {
		t.Fatalf("%d calls made after GracefulStop answered by the stopped server", n)
	}
	if counts := spread(t, ctx, conn, 30); counts[c.addr] != 30 {
		t.Fatalf("after the stop: %v", counts)
	}
}

// gRPC idle mode closes the resolver and balancer and rebuilds them on the
// next call: each cycle ends the registry watch (the store sees it go) and
// the next call starts it again; nothing is left after Close.
func TestIdleCycles(t *testing.T) {
	leakCheck(t)
	url, name := newRegistry("")
	s1 := startServer(t, url, serverConfig{})
	s2 := startServer(t, url, serverConfig{})
	cli := open(t, url)
	store := inprocess.Lookup(name)
	conn := dial(t, cli, "discovery:///Echo", grpcdiscovery.P2C, grpc.WithIdleTimeout(50*time.Millisecond))
	for i := range 8 {
		for range 10 {
			if _, err := call(context.Background(), conn); err != nil {
				t.Fatalf("cycle %d: %v", i, err)
			}
		}
		if store.Watches("Echo") != 1 {
			t.Fatalf("cycle %d: %d store watches while active", i, store.Watches("Echo"))
		}
		waitState(t, conn, connectivity.Idle)
		poll(t, "the watch ended by idleness", func() bool { return store.Watches("Echo") == 0 })
	}
	// Servers changing while the channel sleeps are seen when it wakes.
	must(t, s1.deregister(context.Background()))
	for range 10 {
		who, err := call(context.Background(), conn)
		if err != nil || who != s2.addr {
			t.Fatalf("after waking: %q, %v", who, err)
		}
	}
	conn.Close()
	cli.Close()
	poll(t, "no watch left", func() bool { return store.Watches("Echo") == 0 })
}

// Register while the registry is unreachable: the error wraps
// core.ErrPending and comes with a working deregister function; the server
// is listed once the registry answers, without calling Register again.
func TestRegisterPending(t *testing.T) {
	leakCheck(t)
	url, name := newRegistry("ttl=600ms")
	reg, cli := open(t, url), open(t, url)
	store := inprocess.Lookup(name)
	store.SetDown(true)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	deregister, err := grpcdiscovery.Register(ctx, reg, "Echo", lis, nil)
	if !errors.Is(err, core.ErrPending) || deregister == nil {
		t.Fatalf("Register during the outage = %v (deregister %v), want ErrPending and a deregister function", err, deregister != nil)
	}
	store.SetDown(false)
	poll(t, "Echo listed once the registry answers", func() bool {
		l, err := cli.Instances(context.Background(), "Echo")
		return err == nil && len(l) == 1 && l[0].Addr == "tcp@"+lis.Addr().String()
	})
	if err := deregister(context.Background()); err != nil {
		t.Fatal(err)
	}
	poll(t, "Echo gone after deregister", func() bool {
		l, err := cli.Instances(context.Background(), "Echo")
		return err == nil && len(l) == 0
	})
}
