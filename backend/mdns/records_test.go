//go:build mdns

package mdns

// These tests open no socket: they run anywhere, inside a namespace or not.

import (
	"context"
	"errors"
	"maps"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/seedforge/discovery/core"
)

func TestServiceType(t *testing.T) {
	for in, want := range map[string]string{
		"Arith":                     "_Arith._tcp",
		"conformance-Test_Register": "_conformance-Test_Register._tcp",
		strings.Repeat("a", 62):     "_" + strings.Repeat("a", 62) + "._tcp",
	} {
		got, err := serviceType(in)
		if err != nil || got != want {
			t.Errorf("serviceType(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for in, hint := range map[string]string{
		"":                      "missing service name",
		strings.Repeat("a", 63): "at most 62",
		"com.example.Arith":     "letters, digits",
		"a/b":                   "must not contain '/'",
		"Ari:th":                "letters, digits",
	} {
		_, err := serviceType(in)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), hint) {
			t.Errorf("serviceType(%q) = %v; want ErrInvalid saying %q", in, err, hint)
		}
	}
}

func TestEndpointAndLabel(t *testing.T) {
	for addr, label := range map[string]string{
		"tcp@127.0.0.1:8972":         "127-0-0-1-8972",
		"tcp@[::1]:8972":             "---1--8972",
		"tcp@[fe80::1%eth0]:1":       "-fe80--1-eth0--1",
		"tcp@[2001:db8::ff00:42]:80": "-2001-db8--ff00-42--80",
	} {
		ep, err := endpoint(addr)
		if err != nil {
			t.Fatalf("endpoint(%q): %v", addr, err)
		}
		got, err := instanceLabel(ep)
		if err != nil || got != label {
			t.Errorf("instanceLabel(%q) = %q, %v; want %q", addr, got, err, label)
		}
	}
	for addr, hint := range map[string]string{
		"unix@/tmp/s.sock":       "only tcp@IP:PORT",
		"quic@127.0.0.1:1":       "only tcp@IP:PORT",
		"tcp@localhost:8972":     "not an IP address",
		"tcp@0.0.0.0:8972":       "not an address others can reach",
		"tcp@[::]:8972":          "not an address others can reach",
		"tcp@127.0.0.1:0":        "1-65535",
		"tcp@127.0.0.1:70000":    "1-65535",
		"tcp@127.0.0.1":          "write it as tcp@IP:PORT",
		"tcp@[0:0::1]:80":        "write it as tcp@[::1]:80",
		"tcp@127.0.0.1:080":      "write it as tcp@127.0.0.1:80",
		"tcp@[::ffff:1.2.3.4]:1": "write it as tcp@1.2.3.4",
	} {
		_, err := endpoint(addr)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), hint) {
			t.Errorf("endpoint(%q) = %v; want ErrInvalid saying %q", addr, err, hint)
		}
	}
}

func TestTXTRoundTrip(t *testing.T) {
	for _, m := range []core.Metadata{
		{},
		{"weight": "3", "group": "blue"},
		{"custom_key": "a b&c=d/é", "quote": `say "hi"`, "slash": `a\b\\c\065`, "ctl": "x\x00y\ty\x7f", "empty": ""},
		{"k": strings.Repeat("v", maxTXTString-2)}, // exactly 255 bytes
	} {
		txt, err := encodeTXT(m)
		if err != nil {
			t.Fatalf("encodeTXT(%v): %v", m, err)
		}
		// Through the wire format, as a browser receives it.
		rr := &dns.TXT{Hdr: dns.RR_Header{Name: "x.local.", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: txt}
		buf := make([]byte, 4096)
		n, err := dns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			t.Fatalf("pack %q: %v", txt, err)
		}
		back, _, err := dns.UnpackRR(buf[:n], 0)
		if err != nil {
			t.Fatalf("unpack: %v", err)
		}
		got := decodeTXT(back.(*dns.TXT).Txt, func(txt, reason string) { t.Errorf("bad %q: %s", txt, reason) })
		if !maps.Equal(got, m) {
			t.Errorf("round trip of %q: got %q", m, got)
		}
	}
}

func TestTXTTooLongIsAnErrorNamingTheKey(t *testing.T) {
	_, err := encodeTXT(core.Metadata{"weight": "1", "notes": strings.Repeat("x", 250)})
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), `"notes"`) || !strings.Contains(err.Error(), "255") {
		t.Fatalf("got %v; want ErrInvalid naming key \"notes\" and the 255-byte limit", err)
	}
	t.Logf("error: %v", err)
}

func TestTXTKeysThatCannotBeEncoded(t *testing.T) {
	for _, m := range []core.Metadata{
		{"": "x"},
		{"a=b": "x"},
		{"caf\u00e9": "x"},
		{"tab\t": "x"},
		{"Weight": "1", "weight": "2"},
	} {
		if _, err := encodeTXT(m); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("encodeTXT(%q) = %v; want ErrInvalid", m, err)
		}
	}
}

func TestDecodeSkipsBadStrings(t *testing.T) {
	var bad []string
	got := decodeTXT([]string{"weight=2", "", "=novalue", `bad\001key=1`, "flag", "Weight=9", "group=blue=green", `dangling\`},
		func(txt, reason string) { bad = append(bad, txt) })
	want := core.Metadata{"weight": "2", "flag": "", "group": "blue=green", `dangling\`: ""}
	if !maps.Equal(got, want) {
		t.Errorf("decoded %q, want %q", got, want)
	}
	if len(bad) != 3 {
		t.Errorf("reported bad %q; want =novalue, the control byte key and the repeated Weight", bad)
	}
}

func TestNewRecordRejectsOversizedAnswer(t *testing.T) {
	m := core.Metadata{}
	for i := range 60 {
		m[strings.Repeat("k", 5)+string(rune('A'+i%26))+string(rune('a'+i/26))] = strings.Repeat("v", 240)
	}
	_, err := newRecord(core.Instance{Service: "Arith", Addr: "tcp@127.0.0.1:1", Meta: m}, "local")
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "9000") {
		t.Fatalf("got %v; want ErrInvalid about the mDNS message size", err)
	}
}

func TestZoneAnswersWithTheRegisteredTTL(t *testing.T) {
	rec, err := newRecord(core.Instance{Service: "Arith", Addr: "tcp@127.0.0.1:8972", Meta: core.Metadata{"weight": "2"}}, "local")
	if err != nil {
		t.Fatal(err)
	}
	z := newZone(rec, 1500*time.Millisecond)
	rrs := z.Records(dns.Question{Name: "_Arith._tcp.local.", Qtype: dns.TypePTR, Qclass: dns.ClassINET})
	var types []string
	for _, rr := range rrs {
		types = append(types, dns.TypeToString[rr.Header().Rrtype])
		if rr.Header().Ttl != 2 {
			t.Errorf("%s ttl %d, want 2 (1.5s rounded up)", rr.Header().Name, rr.Header().Ttl)
		}
	}
	if strings.Join(types, ",") != "PTR,SRV,A,TXT" {
		t.Errorf("answer %v, want PTR,SRV,A,TXT", types)
	}
	srv := rrs[1].(*dns.SRV)
	if rrs[0].(*dns.PTR).Ptr != "127-0-0-1-8972._Arith._tcp.local." || srv.Port != 8972 || srv.Target != "127-0-0-1-8972.local." {
		t.Errorf("records: %v", rrs)
	}
	if got := rrs[3].(*dns.TXT).Txt; len(got) != 1 || got[0] != "weight=2" {
		t.Errorf("TXT %q", got)
	}
	if rrs := z.Records(dns.Question{Name: "_services._dns-sd._udp.local.", Qtype: dns.TypePTR}); len(rrs) != 1 {
		t.Errorf("service enumeration: %v", rrs)
	}
}

func TestOpenURL(t *testing.T) {
	b, ok := core.LookupBackend("mdns")
	if !ok {
		t.Fatal("mdns scheme not registered")
	}
	openURL := func(raw string) (*driver, error) {
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
		return d.(*driver), nil
	}
	ifname := routedInterface(t)
	d, err := openURL("mdns://local?interface=" + ifname + "&browse=1s&query_timeout=200ms")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.cfg.Domain != "local" || d.iface == nil || d.iface.Name != ifname || d.cfg.Browse != time.Second ||
		d.cfg.QueryTimeout != 200*time.Millisecond || d.cfg.Expiry != 3*time.Second {
		t.Errorf("config %+v iface %v", d.cfg, d.iface)
	}
	d2, err := openURL("mdns://?expiry=10s")
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if d2.cfg.Domain != "local" || d2.iface != nil || d2.cfg.Browse != DefaultBrowse || d2.cfg.QueryTimeout != DefaultQueryTimeout || d2.cfg.Expiry != 10*time.Second {
		t.Errorf("defaults %+v", d2.cfg)
	}
	d3, err := openURL("mdns://local?browse=200ms")
	if err != nil {
		t.Fatal(err)
	}
	defer d3.Close()
	if d3.cfg.QueryTimeout != 200*time.Millisecond || d3.cfg.Expiry != 600*time.Millisecond {
		t.Errorf("a short browse without query_timeout: %+v", d3.cfg)
	}
	for raw, hint := range map[string]string{
		"mdns://local?interface=nosuch0":                 "known interfaces: ",
		"mdns://local?browse=1s&query_timeout=2s":        "exceeds browse",
		"mdns://local?browse=1s&expiry=500ms":            "shorter than browse",
		"mdns://local?browse=soon":                       "not a duration",
		"mdns://local?bogus=1":                           "unknown option(s) bogus",
		"mdns://a,b":                                     "one domain",
		"mdns://local/path":                              "one domain",
		"mdns://lo_cal":                                  "letters, digits and '-'",
		"mdns://user@local":                              "one domain",
		"mdns://root:hunter2@local":                      "mdns://root:xxxxx@local must name one domain",
		"mdns://" + strings.Repeat("a", 64) + ".example": "over 63",
	} {
		d, err := openURL(raw)
		if err == nil {
			d.Close()
		}
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), hint) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v; want ErrInvalid saying %q", raw, err, hint)
		}
	}
}

// Put checks everything before it opens a socket, so bad input is safe to
// test outside a namespace.
func TestPutRejectsBeforeAnnouncing(t *testing.T) {
	d, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, inst := range []core.Instance{
		{Service: "Arith", Addr: "unix@/tmp/x.sock"},
		{Service: "Arith", Addr: "tcp@example.com:80"},
		{Service: "a.b", Addr: "tcp@127.0.0.1:1"},
		{Service: "Arith", Addr: "tcp@127.0.0.1:1", Meta: core.Metadata{"long": strings.Repeat("x", 300)}},
	} {
		err := d.Put(t.Context(), inst, time.Second)
		if !errors.Is(err, core.ErrInvalid) {
			t.Errorf("Put(%s %s) = %v; want ErrInvalid", inst.Service, inst.Addr, err)
		}
	}
	if n := len(d.(*driver).responders); n != 0 {
		t.Fatalf("%d responders started for rejected input", n)
	}
}

// Through core, a value over the limit fails Register at once: ErrInvalid is
// not retried.
func TestRegisterTooLongValueFailsAtOnce(t *testing.T) {
	d, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	reg, err := core.NewRegistrar(d, core.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	start := time.Now()
	err = reg.Register(t.Context(), core.Instance{Service: "Arith", Addr: "tcp@127.0.0.1:1", Meta: core.Metadata{"tps": "1", "notes": strings.Repeat("n", 256)}})
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), `"notes"`) {
		t.Fatalf("Register = %v; want ErrInvalid naming \"notes\"", err)
	}
	if time.Since(start) > time.Second {
		t.Fatalf("Register took %v: the invalid input was retried", time.Since(start))
	}
}

// A name mDNS cannot encode fails at Watch and Register through core, at
// once, instead of being retried by the watch loop.
func TestInvalidServiceNameFailsAtOnce(t *testing.T) {
	d, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	dis, err := core.NewDiscovery(d, core.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dis.Close()
	if _, err := dis.Watch(context.Background(), "com.example.Arith"); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("Watch = %v, want ErrInvalid", err)
	}
	reg, err := core.NewRegistrar(d, core.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := reg.Register(context.Background(), core.Instance{Service: "com.example.Arith", Addr: "tcp@127.0.0.1:1"}); !errors.Is(err, core.ErrInvalid) {
		t.Fatalf("Register = %v, want ErrInvalid", err)
	}
}

// routedInterface names an interface Open accepts, for the tests that need
// one without sending multicast: lo inside the test namespace (which gives
// it multicast routes), else the first interface with routes for both
// groups; the host's lo usually has none, and Open refuses it then.
func routedInterface(t *testing.T) string {
	t.Helper()
	if os.Getenv("DISCOVERY_MDNS_NETNS") == "1" {
		return "lo"
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp != 0 && checkMulticastRoute(&ifc) == nil {
			return ifc.Name
		}
	}
	t.Skip("no interface here has multicast routes; scripts/test-mdns.sh runs this test on lo in a namespace that has them")
	return ""
}
