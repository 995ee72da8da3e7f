//go:build etcd

package etcd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/faultproxy"
)

// Test timings. etcd's shortest lease with TickMs=10 and ElectionMs=100 is
// 1s (ceil of 1.5 election timeouts); 2s leaves room for the race detector
// on two cores. Refreshes run at ttl/3.
const (
	testTTL     = 2 * time.Second
	backoffBase = 20 * time.Millisecond
	backoffCap  = time.Second
)

func testOptions() core.Options {
	return core.Options{TTL: testTTL, BackoffBase: backoffBase, BackoffCap: backoffCap, Logger: quietLogger()}
}

// leakCheck must be the first thing a test does, so that its check runs
// after every other cleanup (servers stopped, clients closed).
// Closed connections take a moment to wind down, longer than goleak's own
// ~0.4s on a loaded two-core machine, so it polls for up to leakGrace.
func leakCheck(t testing.TB, opts ...goleak.Option) {
	opts = append(opts, goleak.IgnoreCurrent())
	t.Cleanup(func() {
		deadline := time.Now().Add(leakGrace)
		for goleak.Find(opts...) != nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond) // polling rate; the deadline decides
		}
		goleak.VerifyNone(t, opts...)
	})
}

const leakGrace = 10 * time.Second

// peerHTTP ignores the HTTP/1 connections etcd members keep between each
// other (rafthttp's transports are never told to close idle connections).
// Our driver speaks gRPC only and has no net/http goroutine to hide.
var peerHTTP = []goleak.Option{
	goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
	goleak.IgnoreAnyFunction("net/http.(*connReader).backgroundRead"),
}

// testServer is one embedded etcd member started by a test.
type testServer struct {
	t       testing.TB
	name    string
	dir     string
	client  url.URL
	peer    url.URL
	cluster string // initial cluster: name=peerURL,…
	tls     *transport.TLSInfo

	mu sync.Mutex
	e  *embed.Etcd
}

type serverOption func(*testServer)

func withClientTLS(info transport.TLSInfo) serverOption {
	return func(s *testServer) { s.tls = &info }
}

// startServer starts a one-member cluster on free loopback ports, with a
// fresh data directory, and stops it when the test ends.
func startServer(t testing.TB, opts ...serverOption) *testServer {
	t.Helper()
	s := &testServer{t: t, name: "m0", dir: t.TempDir()}
	for _, o := range opts {
		o(s)
	}
	scheme := "http"
	if s.tls != nil {
		scheme = "https"
	}
	// Port 0 everywhere: the real addresses come from the listeners, and
	// restart() reuses them.
	s.client = url.URL{Scheme: scheme, Host: "127.0.0.1:0"}
	s.peer = url.URL{Scheme: "http", Host: "127.0.0.1:0"}
	s.cluster = s.name + "=" + s.peer.String()
	t.Cleanup(s.stop)
	s.start(embed.ClusterStateFlagNew)
	if t.Failed() {
		t.FailNow()
	}
	return s
}

// startCluster starts n members on loopback. Peers must know each other's
// addresses up front, so the ports are picked free beforehand.
func startCluster(t testing.TB, n int) []*testServer {
	t.Helper()
	ports := freePorts(t, 2*n)
	members := make([]*testServer, n)
	var initial []string
	for i := range members {
		s := &testServer{t: t, name: fmt.Sprintf("m%d", i), dir: t.TempDir()}
		s.client = url.URL{Scheme: "http", Host: ports[2*i]}
		s.peer = url.URL{Scheme: "http", Host: ports[2*i+1]}
		members[i] = s
		initial = append(initial, s.name+"="+s.peer.String())
		t.Cleanup(s.stop)
	}
	var wg sync.WaitGroup
	for _, s := range members {
		s.cluster = strings.Join(initial, ",")
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.start(embed.ClusterStateFlagNew)
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return members
}

func freePorts(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func (s *testServer) start(state string) {
	cfg := embed.NewConfig()
	cfg.Name = s.name
	cfg.Dir = s.dir
	cfg.ListenClientUrls = []url.URL{s.client}
	cfg.AdvertiseClientUrls = []url.URL{s.client}
	cfg.ListenPeerUrls = []url.URL{s.peer}
	cfg.AdvertisePeerUrls = []url.URL{s.peer}
	cfg.InitialCluster = s.cluster
	cfg.ClusterState = state
	cfg.InitialClusterToken = "discovery-test"
	cfg.TickMs = 10
	cfg.ElectionMs = 100
	// Its error log has harmless start and stop noise ("mux: server
	// closed"); failures show as test failures. ETCD_TEST_LOG=1 shows it.
	cfg.LogLevel = "fatal"
	if os.Getenv("ETCD_TEST_LOG") != "" {
		cfg.LogLevel = "warn"
	}
	// The HTTP gateway dials the member itself in the background, which
	// leaves client goroutines that come and go; the tests speak gRPC only.
	cfg.EnableGRPCGateway = false
	cfg.BcryptCost = 4 // bcrypt's minimum: authentication is slow under -race otherwise
	if s.tls != nil {
		cfg.ClientTLSInfo = *s.tls
	}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		s.t.Errorf("start embedded etcd %s: %v", s.name, err)
		return
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		s.t.Errorf("embedded etcd %s failed: %v", s.name, err)
		return
	case <-time.After(30 * time.Second):
		e.Close()
		s.t.Errorf("embedded etcd %s not ready within 30s", s.name)
		return
	}
	s.mu.Lock()
	s.e = e
	// Pin the real addresses, so that a restart comes back where clients look.
	s.client.Host = e.Clients[0].Addr().String()
	s.peer.Host = e.Peers[0].Addr().String()
	s.mu.Unlock()
	s.warmUp()
}

// warmUp waits until the member answers gRPC. The member starts serving in
// goroutines of its own after ReadyNotify; a test that checks for leaked
// goroutines must start after they exist.
func (s *testServer) warmUp() {
	cfg := clientv3.Config{Endpoints: []string{s.client.Host}, Logger: zap.NewNop(), DialTimeout: 10 * time.Second}
	if s.tls != nil {
		tc, err := s.tls.ClientConfig()
		if err != nil {
			s.t.Errorf("client TLS config: %v", err)
			return
		}
		cfg.TLS = tc
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		s.t.Errorf("warm-up client: %v", err)
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Get(ctx, "warm-up"); err != nil {
		s.t.Errorf("embedded etcd %s does not answer: %v", s.name, err)
	}
}

// endpoint is the member's client address, host:port.
func (s *testServer) endpoint() string { return s.client.Host }

func (s *testServer) stop() {
	s.mu.Lock()
	e := s.e
	s.e = nil
	s.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

// restart starts the stopped member again on its data directory and URLs.
func (s *testServer) restart() {
	s.t.Helper()
	s.start(embed.ClusterStateFlagExisting)
	if s.t.Failed() {
		s.t.FailNow()
	}
}

func (s *testServer) server() *embed.Etcd {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.e
}

func endpoints(members ...*testServer) []string {
	var out []string
	for _, m := range members {
		out = append(out, m.endpoint())
	}
	return out
}

// proxyTo starts a fault proxy in front of srv, closed with the test.
func proxyTo(t testing.TB, srv *testServer) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(srv.endpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// rawClient is a plain etcd client, playing an operator or another program.
func rawClient(t testing.TB, eps ...string) *clientv3.Client {
	t.Helper()
	return rawClientConfig(t, clientv3.Config{Endpoints: eps})
}

func rawClientConfig(t testing.TB, cfg clientv3.Config) *clientv3.Client {
	t.Helper()
	cfg.Logger = zap.NewNop()
	cfg.DialOptions = append(cfg.DialOptions, grpc.WithConnectParams(reconnect))
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	c, err := clientv3.New(cfg)
	if err != nil {
		t.Fatalf("raw etcd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newDriverT opens a driver and closes it when the test ends.
func newDriverT(t testing.TB, cfg Config) *driver {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	d, err := newDriver(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// client is a registrar and a discovery over one driver, as one process.
type client struct {
	d   *driver
	reg core.Registrar
	dis core.Discovery
}

func newClient(t testing.TB, cfg Config) *client {
	t.Helper()
	d := newDriverT(t, cfg)
	reg, err := core.NewRegistrar(d, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	dis, err := core.NewDiscovery(d, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dis.Close(); reg.Close() }) // before the driver's Close (LIFO)
	return &client{d: d, reg: reg, dis: dis}
}

// Shared with the conformance suite.
var (
	ctxT     = coretest.Context
	poll     = coretest.Poll
	recv     = coretest.Next
	addrsOf  = coretest.Addrs
	hasAddrs = coretest.HasAddrs
)

// keysUnder returns the keys under prefix and the lease of each.
func keysUnder(ctx context.Context, c *clientv3.Client, prefix string) (map[string]clientv3.LeaseID, error) {
	resp, err := c.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	out := map[string]clientv3.LeaseID{}
	for _, kv := range resp.Kvs {
		out[string(kv.Key)] = clientv3.LeaseID(kv.Lease)
	}
	return out, nil
}

// logRecorder is a slog handler that keeps what it is given, for tests that
// check warnings; it never writes to the test log, which goroutines may
// outlive.
type logRecorder struct {
	mu   sync.Mutex
	recs []string
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Level.String() + " " + rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	r.recs = append(r.recs, b.String())
	r.mu.Unlock()
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.recs)
}

func (r *logRecorder) contains(s string) bool {
	for _, l := range r.all() {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// quietLogger drops everything below Warn... into a recorder nobody reads,
// keeping test output to the failures.
// With ETCD_TEST_LOG=1 it writes to stderr instead, for debugging.
func quietLogger() *slog.Logger {
	if os.Getenv("ETCD_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(&logRecorder{})
}

func slogOf(r *logRecorder) *slog.Logger { return slog.New(r) }

// serverWatchers reads etcd's own gauge of open watchers
// (etcd_debugging_mvcc_watcher_total) from the embedded servers' metrics,
// which live in this process's default Prometheus registry. It counts what
// the server holds, whoever opened it: tests compare it before and after.
func serverWatchers(t testing.TB) int {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "etcd_debugging_mvcc_watcher_total" {
			return int(f.GetMetric()[0].GetGauge().GetValue())
		}
	}
	t.Fatal("etcd_debugging_mvcc_watcher_total not found in the metrics")
	return 0
}
