//go:build mdns

package mdns

// These tests send multicast. They run only inside a private network
// namespace (scripts/test-mdns.sh sets DISCOVERY_MDNS_NETNS=1 there) and
// skip everywhere else, so they never touch the host's interfaces.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/leaktest"
)

// The timings of every test here. A browse every 200ms that listens 100ms;
// an instance unseen for 600ms (three browses) is gone.
const (
	testBrowse = 200 * time.Millisecond
	testQuery  = 100 * time.Millisecond
	testExpiry = ExpiryPerBrowse * testBrowse
	// testSettle bounds how long a change may take to reach a watcher: a
	// leave is seen at worst expiry + one browse + one query after it
	// (900ms), a join or a metadata change within one browse + one query
	// (300ms). Doubled and more for a loaded 2-core machine under -race.
	testSettle = 2 * (testExpiry + testBrowse + testQuery)
	// testTTL is the record TTL: the responder stops answering when it
	// passes unrefreshed; core refreshes at TTL/3.
	testTTL = time.Second
)

func requireNetns(t testing.TB) {
	t.Helper()
	if os.Getenv("DISCOVERY_MDNS_NETNS") != "1" {
		t.Skip("mDNS tests send multicast, so they run only inside a private network namespace: run scripts/test-mdns.sh")
	}
}

func testConfig() Config {
	return Config{Interface: "lo", Browse: testBrowse, QueryTimeout: testQuery}
}

func newTestDriver(t testing.TB, cfg Config) *driver {
	t.Helper()
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d.(*driver)
}

func TestConformance(t *testing.T) {
	requireNetns(t)
	coretest.Run(t, coretest.Harness{
		NewDriver: func(t testing.TB) core.Driver { return newTestDriver(t, testConfig()) },
		TTL:       testTTL,
		// Remove is nil: mDNS has no shared store in which someone else
		// could delete a record, only the owner's responder answers. The
		// nearest thing, a responder lost behind core's back, is noticed by
		// core at its next refresh (TTL/3 after a random phase), which can
		// come before a watcher's expiry: the empty list the suite waits
		// for would be seen only sometimes. TestLostResponderIsRegisteredAgain
		// covers that path without the race.
		Remove:  nil,
		Settle:  testSettle,
		Service: "c",
	})
}

// query asks the group for name/qtype from a plain socket, as any mDNS
// browser would, and returns the first answer.
func query(t *testing.T, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = false
	buf, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteToUDP(buf, groupV4); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(testSettle))
	in := make([]byte, 65536)
	n, _, err := c.ReadFromUDP(in)
	if err != nil {
		t.Fatalf("no answer to %s: %v", name, err)
	}
	var m dns.Msg
	if err := m.Unpack(in[:n]); err != nil {
		t.Fatal(err)
	}
	return &m
}

// Checks the records on the wire, as a third-party browser sees them.
func TestWireRecords(t *testing.T) {
	requireNetns(t)
	leaktest.Check(t)
	d := newTestDriver(t, testConfig())
	ctx := t.Context()
	inst := core.Instance{Service: "Wire", Addr: "tcp@127.0.0.1:8972", Meta: core.Metadata{"weight": "2", "group": "blue"}}
	if err := d.Put(ctx, inst, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	m := query(t, "_Wire._tcp.local.", dns.TypePTR)
	if !m.Response || !m.Authoritative || len(m.Answer) != 4 {
		t.Fatalf("answer: %v", m)
	}
	ptr, srv, a, txt := m.Answer[0].(*dns.PTR), m.Answer[1].(*dns.SRV), m.Answer[2].(*dns.A), m.Answer[3].(*dns.TXT)
	if ptr.Ptr != "127-0-0-1-8972._Wire._tcp.local." || srv.Hdr.Name != ptr.Ptr || srv.Port != 8972 ||
		srv.Target != "127-0-0-1-8972.local." || a.Hdr.Name != srv.Target || !a.A.Equal(net.IPv4(127, 0, 0, 1)) ||
		!slices.Equal(txt.Txt, []string{"group=blue", "weight=2"}) {
		t.Fatalf("records:\n%v", m)
	}
	for _, rr := range m.Answer {
		if rr.Header().Ttl != 90 {
			t.Errorf("%s TTL %d, want the 90s core passed", rr.Header().Name, rr.Header().Ttl)
		}
	}
	// A Put with new metadata is answered from the next query on, by the
	// same responder; KeepAlive changes the TTL.
	inst.Meta = core.Metadata{"tps": "12.5"}
	if err := d.Put(ctx, inst, 90*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := d.KeepAlive(ctx, inst, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	m = query(t, "_Wire._tcp.local.", dns.TypePTR)
	if got := m.Answer[3].(*dns.TXT).Txt; !slices.Equal(got, []string{"tps=12.5"}) || m.Answer[3].Header().Ttl != 30 {
		t.Fatalf("after re-Put and KeepAlive: %v", m)
	}
	if n := len(d.responders); n != 1 {
		t.Fatalf("%d responders for one instance", n)
	}
}

// sniffer records what is multicast to the mDNS group on lo.
type sniffer struct {
	c    *net.UDPConn
	done chan struct{}
	mu   sync.Mutex
	msgs []*dns.Msg
}

func sniff(t *testing.T) *sniffer {
	t.Helper()
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenMulticastUDP("udp4", lo, groupV4)
	if err != nil {
		t.Fatal(err)
	}
	s := &sniffer{c: c, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 65536)
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if m.Unpack(buf[:n]) == nil {
				s.mu.Lock()
				s.msgs = append(s.msgs, m)
				s.mu.Unlock()
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *sniffer) close() { s.c.Close(); <-s.done }

func (s *sniffer) messages() []*dns.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// Discovery asks for its own service type only, and lists nothing else even
// when other services answer on the LAN.
func TestBrowseAsksOnlyForItsService(t *testing.T) {
	requireNetns(t)
	leaktest.Check(t)
	s := sniff(t)
	d := newTestDriver(t, testConfig())
	ctx := t.Context()
	must(t, d.Put(ctx, core.Instance{Service: "Mine", Addr: "tcp@127.0.0.1:1001"}, time.Minute))
	must(t, d.Put(ctx, core.Instance{Service: "Other", Addr: "tcp@127.0.0.1:1002"}, time.Minute))
	w, err := d.Watch(ctx, "Mine")
	must(t, err)
	defer w.Close()
	var got []core.Instance
	for !slices.Equal(coretest.Addrs(got), []string{"tcp@127.0.0.1:1001"}) {
		wctx, cancel := context.WithTimeout(ctx, testSettle)
		got, err = w.Next(wctx)
		cancel()
		if err != nil {
			t.Fatalf("Next: %v (last list %v)", err, coretest.Addrs(got))
		}
	}
	l, err := d.List(ctx, "Mine")
	must(t, err)
	if len(l) != 1 || l[0].Addr != "tcp@127.0.0.1:1001" {
		t.Fatalf("List: %v", coretest.Addrs(l))
	}
	s.close()
	var questions int
	for _, m := range s.messages() {
		if m.Response {
			continue
		}
		for _, q := range m.Question {
			questions++
			if q.Name != "_Mine._tcp.local." || q.Qtype != dns.TypePTR {
				t.Errorf("a browse asked %s %s; want only PTR _Mine._tcp.local.", q.Name, dns.TypeToString[q.Qtype])
			}
		}
	}
	if questions == 0 {
		t.Fatal("the sniffer saw no query: it cannot vouch for anything")
	}
	t.Logf("%d questions seen, all for _Mine._tcp.local.", questions)
}

// Delete stops answering and multicasts a goodbye: the PTR at TTL 0.
func TestDeleteSendsGoodbye(t *testing.T) {
	requireNetns(t)
	leaktest.Check(t)
	s := sniff(t)
	d := newTestDriver(t, testConfig())
	ctx := t.Context()
	inst := core.Instance{Service: "Bye", Addr: "tcp@127.0.0.1:1003"}
	must(t, d.Put(ctx, inst, time.Minute))
	must(t, d.Delete(ctx, inst))
	must(t, d.Delete(ctx, inst)) // a missing record is not an error
	if err := d.KeepAlive(ctx, inst, time.Minute); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("KeepAlive after Delete = %v, want ErrNotFound", err)
	}
	coretest.Poll(t, testSettle, "the goodbye", func() error {
		for _, m := range s.messages() {
			for _, rr := range m.Answer {
				if p, ok := rr.(*dns.PTR); ok && m.Response && p.Hdr.Name == "_Bye._tcp.local." &&
					p.Ptr == "127-0-0-1-1003._Bye._tcp.local." && p.Hdr.Ttl == 0 && len(m.Answer) == 1 {
					return nil
				}
			}
		}
		return fmt.Errorf("no PTR with TTL 0 among %d messages", len(s.messages()))
	})
	l, err := d.List(ctx, "Bye")
	must(t, err)
	if len(l) != 0 {
		t.Fatalf("deleted instance still answers: %v", coretest.Addrs(l))
	}
}

// A record whose TTL passes without Put or KeepAlive stops being answered;
// KeepAlive then says ErrNotFound, so core writes it again.
func TestUnrefreshedRecordExpires(t *testing.T) {
	requireNetns(t)
	leaktest.Check(t)
	d := newTestDriver(t, testConfig())
	ctx := t.Context()
	inst := core.Instance{Service: "Ttl", Addr: "tcp@127.0.0.1:1004"}
	must(t, d.Put(ctx, inst, 300*time.Millisecond))
	must(t, d.KeepAlive(ctx, inst, 300*time.Millisecond))
	start := time.Now()
	coretest.Poll(t, testSettle, "the record expired", func() error {
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.responders[key(inst)]; ok {
			return errors.New("still answering")
		}
		return nil
	})
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("expired after %v, before its 300ms ttl", el)
	}
	if err := d.KeepAlive(ctx, inst, time.Second); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("KeepAlive = %v, want ErrNotFound", err)
	}
	// Close stops every responder; calls after it fail.
	must(t, d.Put(ctx, inst, time.Minute))
	must(t, d.Close())
	if err := d.Put(ctx, inst, time.Minute); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("Put after Close = %v", err)
	}
	if _, err := d.Watch(ctx, "Ttl"); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("Watch after Close = %v", err)
	}
	other := newTestDriver(t, testConfig())
	l, err := other.List(ctx, "Ttl")
	must(t, err)
	if len(l) != 0 {
		t.Fatalf("closed driver still answers: %v", coretest.Addrs(l))
	}
}

// Next returns when metadata changes, and not on every browse.
func TestNextReturnsOnChangeOnly(t *testing.T) {
	requireNetns(t)
	leaktest.Check(t)
	srv, cli := newTestDriver(t, testConfig()), newTestDriver(t, testConfig())
	ctx := t.Context()
	inst := core.Instance{Service: "Chg", Addr: "tcp@127.0.0.1:1005", Meta: core.Metadata{"tps": "1"}}
	must(t, srv.Put(ctx, inst, time.Minute))
	w, err := cli.Watch(ctx, "Chg")
	must(t, err)
	defer w.Close()
	next := func(within time.Duration) ([]core.Instance, error) {
		c, cancel := context.WithTimeout(ctx, within)
		defer cancel()
		return w.Next(c)
	}
	l, err := next(testSettle)
	for err == nil && len(l) == 0 {
		l, err = next(testSettle)
	}
	if err != nil || l[0].Meta["tps"] != "1" {
		t.Fatalf("first sighting: %v %v", l, err)
	}
	// Five browses of an unchanged list: Next keeps waiting.
	if l, err := next(5 * testBrowse); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next returned %v, %v for an unchanged list", l, err)
	}
	for _, meta := range []core.Metadata{{"tps": "2"}, {"tps": "2", "state": core.StateInactive}} {
		inst.Meta = meta
		changed := time.Now()
		must(t, srv.Put(ctx, inst, time.Minute))
		l, err := next(testSettle)
		if err != nil || len(l) != 1 || !mapsEqual(l[0].Meta, meta) {
			t.Fatalf("after changing metadata to %v: %v %v", meta, l, err)
		}
		t.Logf("metadata change %v seen by the watcher after %v", meta, time.Since(changed).Round(time.Millisecond))
	}
	// Closing the watcher ends a waiting Next.
	done := make(chan error, 1)
	go func() { _, err := w.Next(ctx); done <- err }()
	w.Close()
	select {
	case err := <-done:
		if !errors.Is(err, core.ErrClosed) {
			t.Fatalf("Next after Close = %v", err)
		}
	case <-time.After(testSettle):
		t.Fatal("Next did not return after Close")
	}
}

func mapsEqual(a, b core.Metadata) bool { return a.Encode() == b.Encode() && len(a) == len(b) }

// logRecorder counts slog warnings.
type logRecorder struct {
	mu    sync.Mutex
	warns []string
}

func (r *logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var txt string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == "txt" {
			txt = a.Value.String()
		}
		return true
	})
	r.warns = append(r.warns, rec.Message+": "+txt)
	return nil
}
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

func (r *logRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.warns)
}

// A foreign responder with broken TXT strings: the bad strings are skipped
// with one warning each, the rest of the instance is used.
func TestBadTXTIsSkipped(t *testing.T) {
	requireNetns(t)
	leaktest.Check(t)
	lo, err := net.InterfaceByName("lo")
	must(t, err)
	svc, err := mdns.NewMDNSService("foreign", "_Bad._tcp", "local.", "foreign.local.", 1006, []net.IP{net.IPv4(127, 0, 0, 1)},
		[]string{"weight=2", "=novalue", `bad\001key=1`, "Weight=7", "flag", `v=a\"b`})
	must(t, err)
	foreign, err := mdns.NewServer(&mdns.Config{Zone: svc, Iface: lo, Logger: slog.NewLogLogger(slog.DiscardHandler, slog.LevelDebug)})
	must(t, err)
	defer foreign.Shutdown()

	rec := &logRecorder{}
	cfg := testConfig()
	cfg.Logger = slog.New(rec)
	d := newTestDriver(t, cfg)
	ctx := t.Context()
	w, err := d.Watch(ctx, "Bad")
	must(t, err)
	defer w.Close()
	want := core.Metadata{"weight": "2", "flag": "", "v": `a"b`}
	var l []core.Instance
	for len(l) == 0 {
		c, cancel := context.WithTimeout(ctx, testSettle)
		l, err = w.Next(c)
		cancel()
		must(t, err)
	}
	if len(l) != 1 || l[0].Addr != "tcp@127.0.0.1:1006" || !mapsEqual(l[0].Meta, want) {
		t.Fatalf("got %v %v, want tcp@127.0.0.1:1006 with %v", coretest.Addrs(l), l[0].Meta, want)
	}
	// Make the watch browse several more times: one warning per bad string,
	// not one per browse.
	must(t, d.Put(ctx, core.Instance{Service: "Bad", Addr: "tcp@127.0.0.1:1007"}, time.Minute))
	for len(l) != 2 {
		c, cancel := context.WithTimeout(ctx, testSettle)
		l, err = w.Next(c)
		cancel()
		must(t, err)
	}
	if n := rec.count(); n != 3 {
		t.Fatalf("%d warnings, want 3 (=novalue, the control byte, the repeated key): %q", n, rec.warns)
	}
	t.Logf("warnings: %q", rec.warns)
}

// Latency of a join, a metadata change and a leave through core, at the
// test timings (browse 200ms, query 100ms, expiry 600ms).
func TestLatency(t *testing.T) {
	requireNetns(t)
	leaktest.Check(t)
	srvD, cliD := newTestDriver(t, testConfig()), newTestDriver(t, testConfig())
	o := core.Options{TTL: testTTL}
	reg, err := core.NewRegistrar(srvD, o)
	must(t, err)
	defer reg.Close()
	dis, err := core.NewDiscovery(cliD, o)
	must(t, err)
	defer dis.Close()
	ctx := t.Context()
	ch, err := dis.Watch(ctx, "Lat", core.IncludeInactive())
	must(t, err)
	coretest.Next(t, ch, testSettle, "the first, empty list", coretest.HasAddrs())
	inst := core.Instance{Service: "Lat", Addr: "tcp@127.0.0.1:1008", Meta: core.Metadata{"state": "active"}}

	start := time.Now()
	must(t, reg.Register(ctx, inst))
	coretest.Next(t, ch, testSettle, "the join", coretest.HasAddrs(inst.Addr))
	join := time.Since(start)

	inst.Meta = core.Metadata{"state": core.StateInactive}
	start = time.Now()
	must(t, reg.Register(ctx, inst))
	coretest.Next(t, ch, testSettle, "state=inactive", func(l []core.Instance) bool { return len(l) == 1 && l[0].Meta.Inactive() })
	change := time.Since(start)

	start = time.Now()
	must(t, reg.Deregister(ctx, inst))
	coretest.Next(t, ch, testSettle, "the leave", coretest.HasAddrs())
	leave := time.Since(start)
	t.Logf("latency at browse=%v query_timeout=%v expiry=%v: join %v, metadata change %v, leave %v",
		testBrowse, testQuery, testExpiry, join.Round(time.Millisecond), change.Round(time.Millisecond), leave.Round(time.Millisecond))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// keepAliveSpy records what KeepAlive answered core.
type keepAliveSpy struct {
	core.Driver
	mu       sync.Mutex
	notFound int
}

func (s *keepAliveSpy) KeepAlive(ctx context.Context, inst core.Instance, ttl time.Duration) error {
	err := s.Driver.KeepAlive(ctx, inst, ttl)
	if errors.Is(err, core.ErrNotFound) {
		s.mu.Lock()
		s.notFound++
		s.mu.Unlock()
	}
	return err
}

// A responder lost behind core's back (what an external delete is in a
// store) makes KeepAlive answer ErrNotFound; core then Puts it again, with
// its metadata, and watchers keep listing it.
func TestLostResponderIsRegisteredAgain(t *testing.T) {
	requireNetns(t)
	leaktest.Check(t)
	d := newTestDriver(t, testConfig())
	spy := &keepAliveSpy{Driver: d}
	reg, err := core.NewRegistrar(spy, core.Options{TTL: testTTL})
	must(t, err)
	defer reg.Close()
	ctx := t.Context()
	inst := core.Instance{Service: "Lost", Addr: "tcp@127.0.0.1:1009", Meta: core.Metadata{"group": "g"}}
	must(t, reg.Register(ctx, inst))
	d.drop(inst)
	lost := time.Now()
	coretest.Poll(t, testTTL+testSettle, "the responder started again", func() error {
		d.mu.Lock()
		defer d.mu.Unlock()
		if _, ok := d.responders[key(inst)]; !ok {
			return errors.New("not answering")
		}
		return nil
	})
	t.Logf("answering again %v after the loss (refresh interval %v)", time.Since(lost).Round(time.Millisecond), testTTL/core.TTLPerInterval)
	spy.mu.Lock()
	n := spy.notFound
	spy.mu.Unlock()
	if n == 0 {
		t.Fatal("KeepAlive never answered ErrNotFound")
	}
	l, err := newTestDriver(t, testConfig()).List(ctx, "Lost")
	must(t, err)
	if len(l) != 1 || l[0].Addr != inst.Addr || l[0].Meta["group"] != "g" {
		t.Fatalf("after re-registration: %v", l)
	}
}
