package gateway_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/gateway"
	"github.com/seedforge/discovery/internal/leaktest"
	"github.com/seedforge/discovery/selector"
)

func decode(t *testing.T, a answer) Reply {
	t.Helper()
	var r Reply
	if err := json.Unmarshal([]byte(a.body), &r); err != nil {
		t.Fatalf("reply %q is not JSON: %v", a.body, err)
	}
	return r
}

func TestRoutesCallRPCXServers(t *testing.T) {
	leaktest.Check(t)
	url := newRegistry()
	s := startRPCX(t, url, "")
	_, hs := newGateway(t, gateway.Config{Discovery: open(t, url)})

	a := waitOK(t, hs.URL+"/Arith/Mul", `{"A":6,"B":7}`)
	if r := decode(t, a); r.C != 42 || r.Server != s.Addr {
		t.Fatalf("POST /Arith/Mul = %+v, want C=42 from %s", r, s.Addr)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}

	a = post(t, hs.URL+"/rpc", `{"service":"Arith","method":"Mul","request":{"A":3,"B":5}}`)
	if r := decode(t, a); a.status != 200 || r.C != 15 {
		t.Fatalf("POST /rpc = %d %s", a.status, a.body)
	}

	// traceparent and X-Request-Id reach the server as call metadata.
	a = post(t, hs.URL+"/Arith/Meta", `{}`, "Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "X-Request-Id", "req-1")
	r := decode(t, a)
	if r.Meta["traceparent"] != "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" || r.Meta["x-request-id"] != "req-1" {
		t.Fatalf("metadata at the server = %v", r.Meta)
	}
}

// rpcx's HTTP gateway clients (rpcx-gateway's Go, Java, Python clients)
// send the service in headers and read the status in headers.
func TestRPCXGatewayHeaders(t *testing.T) {
	url := newRegistry()
	startRPCX(t, url, "")
	_, hs := newGateway(t, gateway.Config{Discovery: open(t, url)})
	waitOK(t, hs.URL+"/Arith/Mul", `{}`)

	hdr := func(method string) []string {
		return []string{"X-RPCX-Version", "1", "X-RPCX-MessageType", "0", "X-RPCX-SerializeType", "1",
			"X-RPCX-MessageID", "12345", "X-RPCX-ServicePath", "Arith", "X-RPCX-ServiceMethod", method,
			"X-RPCX-Meta", "tenant=blue"}
	}
	a := post(t, hs.URL+"/", `{"A":4,"B":5}`, hdr("Mul")...)
	if a.status != 200 || a.header.Get("X-RPCX-MessageStatusType") != "Normal" || a.header.Get("X-RPCX-MessageID") != "12345" ||
		a.header.Get("X-RPCX-ServicePath") != "Arith" || a.header.Get("X-RPCX-ServiceMethod") != "Mul" {
		t.Fatalf("rpcx headers call = %d %v %s", a.status, a.header, a.body)
	}
	if r := decode(t, a); r.C != 20 {
		t.Fatalf("reply %s", a.body)
	}
	a = post(t, hs.URL+"/", `{}`, hdr("Meta")...)
	if r := decode(t, a); r.Meta["tenant"] != "blue" {
		t.Fatalf("X-RPCX-Meta not forwarded: %v", r.Meta)
	}
	a = post(t, hs.URL+"/", `{"A":1,"B":0}`, hdr("Div")...)
	if a.status != http.StatusUnprocessableEntity || a.header.Get("X-RPCX-MessageStatusType") != "Error" ||
		a.header.Get("X-RPCX-ErrorMessage") != "divide by zero" {
		t.Fatalf("business error over rpcx headers = %d %v", a.status, a.header)
	}
	a = post(t, hs.URL+"/", `{}`, "X-RPCX-ServicePath", "Arith", "X-RPCX-ServiceMethod", "Mul")
	if a.status != http.StatusBadRequest || !strings.Contains(a.header.Get("X-RPCX-ErrorMessage"), "SerializeType") {
		t.Fatalf("missing serialize type = %d %v", a.status, a.header)
	}
}

func TestErrorMapping(t *testing.T) {
	url := newRegistry()
	startRPCX(t, url, "")
	reg := open(t, url)
	register(t, reg, "Drained", "tcp@127.0.0.1:1", core.Metadata{core.MetaState: core.StateInactive})
	register(t, reg, "Dead", deadAddr(t), nil)
	_, hs := newGateway(t, gateway.Config{Discovery: open(t, url), MaxBodyBytes: 1024})
	waitOK(t, hs.URL+"/Arith/Mul", `{}`)

	for _, c := range []struct {
		name, path, body string
		header           []string
		status           int
		text             string
	}{
		{"bad JSON", "/Arith/Mul", `{"A":`, nil, 400, "not valid JSON"},
		{"wrong argument type", "/Arith/Mul", `{"A":"six"}`, nil, 400, "argument type"},
		{"rpc body without method", "/rpc", `{"service":"Arith"}`, nil, 400, "method"},
		{"unknown service", "/Nope/Mul", `{}`, nil, 404, "unknown service"},
		{"unknown method", "/Arith/Nope", `{}`, nil, 404, "can't find method"},
		{"business error", "/Arith/Div", `{"A":1,"B":0}`, nil, 422, "divide by zero"},
		{"all instances drained", "/Drained/Mul", `{}`, nil, 503, "no active instance"},
		{"nothing listens", "/Dead/Mul", `{}`, nil, 502, "upstream failure"},
		{"deadline", "/Arith/Sleep", `{"A":5000}`, []string{gateway.HeaderTimeout, "50ms"}, 504, "no answer within 50ms"},
		{"bad timeout header", "/Arith/Mul", `{}`, []string{gateway.HeaderTimeout, "soon"}, 400, gateway.HeaderTimeout},
		{"body too large", "/Arith/Mul", `{"A":"` + strings.Repeat("x", 2000) + `"}`, nil, 413, "larger than 1024"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := post(t, hs.URL+c.path, c.body, c.header...)
			var e struct{ Error string }
			json.Unmarshal([]byte(a.body), &e)
			if a.status != c.status || !strings.Contains(e.Error, c.text) {
				t.Fatalf("%s = %d %s, want %d with %q", c.path, a.status, a.body, c.status, c.text)
			}
		})
	}
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := "tcp@" + ln.Addr().String()
	ln.Close()
	return addr
}

// brokenServer accepts connections and closes them at once, after the
// request was sent: the call may have reached a server.
func brokenServer(t *testing.T) (addr string, accepted *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted = &atomic.Int64{}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			buf := make([]byte, 1)
			c.Read(buf) // the request arrived
			c.Close()
		}
	}()
	return "tcp@" + ln.Addr().String(), accepted
}

// Retries are safe only for idempotent services, or when the request was
// never sent.
func TestRetriesOnlyWhereSafe(t *testing.T) {
	url := newRegistry()
	reg := open(t, url)
	broken, accepted := brokenServer(t)
	register(t, reg, "Once", broken, nil)
	register(t, reg, "Again", broken, nil)
	s := startRPCX(t, url, "")
	register(t, reg, "Arith", deadAddr(t), nil) // a dead instance beside a live one
	_, hs := newGateway(t, gateway.Config{
		Discovery: open(t, url),
		Default:   gateway.Service{Selector: "roundrobin"},
		Services:  map[string]gateway.Service{"Again": {Idempotent: true, Retries: 2}},
	})

	if a := post(t, hs.URL+"/Once/Mul", `{}`); a.status != http.StatusBadGateway {
		t.Fatalf("broken non-idempotent call = %d %s", a.status, a.body)
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("a non-idempotent call that may have reached the server was sent %d times, want 1", n)
	}
	if a := post(t, hs.URL+"/Again/Mul", `{}`); a.status != http.StatusBadGateway {
		t.Fatalf("broken idempotent call = %d %s", a.status, a.body)
	}
	if n := accepted.Load() - 1; n != 3 {
		t.Fatalf("an idempotent call with 2 retries was sent %d times, want 3", n)
	}

	// Not idempotent, but a refused connection sent nothing: every call
	// reaches the live server, whichever instance round robin starts with.
	waitOK(t, hs.URL+"/Arith/Mul", `{}`)
	for range 10 {
		a := post(t, hs.URL+"/Arith/Mul", `{"A":2,"B":2}`)
		if r := decode(t, a); a.status != 200 || r.Server != s.Addr {
			t.Fatalf("call with a dead instance listed = %d %s", a.status, a.body)
		}
	}
}

func TestConsistentHashByHeader(t *testing.T) {
	url := newRegistry()
	for range 3 {
		startRPCX(t, url, "")
	}
	client := open(t, url)
	_, hs := newGateway(t, gateway.Config{
		Discovery: client,
		Services:  map[string]gateway.Service{"Arith": {Selector: "consistenthash", HashHeader: "X-User"}},
	})
	waitOK(t, hs.URL+"/Arith/Mul", `{}`, "X-User", "u")
	users := make([]string, 20)
	for i := range users {
		users[i] = fmt.Sprintf("user-%d", i)
	}
	// Servers register as they start: wait until the gateway sends users to
	// all three, then the mapping holds still.
	coretest.Poll(t, 20*time.Second, "users spread over 3 servers", func() error {
		seen := map[string]bool{}
		for _, u := range users {
			seen[decode(t, post(t, hs.URL+"/Arith/Mul", `{}`, "X-User", u)).Server] = true
		}
		if len(seen) < 3 {
			return fmt.Errorf("users reached %v", seen)
		}
		return nil
	})
	for _, user := range users {
		first := decode(t, post(t, hs.URL+"/Arith/Mul", `{}`, "X-User", user)).Server
		for range 3 {
			if got := decode(t, post(t, hs.URL+"/Arith/Mul", `{}`, "X-User", user)).Server; got != first {
				t.Fatalf("user %s went to %s then %s", user, first, got)
			}
		}
	}
}

func TestConfigErrors(t *testing.T) {
	client := open(t, newRegistry())
	for _, c := range []struct {
		cfg  gateway.Config
		text string
	}{
		{gateway.Config{}, "Discovery is nil"},
		{gateway.Config{Discovery: client, Default: gateway.Service{Selector: "fastest"}}, "unknown selector"},
		{gateway.Config{Discovery: client, Services: map[string]gateway.Service{"A": {Selector: "consistenthash"}}}, "HashHeader"},
		{gateway.Config{Discovery: client, Services: map[string]gateway.Service{"a/b": {}}}, "must not contain"},
		{gateway.Config{Discovery: client, Default: gateway.Service{FailMode: selector.Failbackup}}, "idempotent"},
	} {
		if _, err := gateway.New(c.cfg); err == nil || !strings.Contains(err.Error(), c.text) {
			t.Errorf("New(%+v) = %v, want an error with %q", c.cfg, err, c.text)
		}
	}
}

func TestServicesList(t *testing.T) {
	url := newRegistry()
	startRPCX(t, url, "")
	startRPCX(t, url, "")
	reg := open(t, url)
	register(t, reg, "Drained", "tcp@127.0.0.1:1", core.Metadata{core.MetaState: core.StateInactive})
	_, hs := newGateway(t, gateway.Config{Discovery: open(t, url)})
	coretest.Poll(t, 20*time.Second, "both servers listed", func() error {
		res, err := http.Get(hs.URL + "/services")
		if err != nil {
			return err
		}
		defer res.Body.Close()
		var got []core.ServiceCount
		if err := json.NewDecoder(res.Body).Decode(&got); err != nil {
			return err
		}
		want := []core.ServiceCount{{Service: "Arith", Instances: 2}, {Service: "Drained", Instances: 0}}
		if res.StatusCode != 200 || fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("GET /services = %d %v, want %v", res.StatusCode, got, want)
		}
		return nil
	})
}

// Made-up service names cannot flood the registry: their lookups are rate
// limited, while the services the gateway follows keep answering.
func TestUnknownNamesAreRateLimited(t *testing.T) {
	url := newRegistry()
	startRPCX(t, url, "")
	_, hs := newGateway(t, gateway.Config{Discovery: open(t, url)})
	waitOK(t, hs.URL+"/Arith/Mul", `{}`)
	statuses := map[int]int{}
	for i := range 200 {
		statuses[post(t, fmt.Sprintf("%s/Made%d/Up", hs.URL, i), `{}`).status]++
	}
	if statuses[http.StatusTooManyRequests] == 0 || statuses[http.StatusNotFound]+statuses[http.StatusTooManyRequests] != 200 {
		t.Fatalf("200 made-up names answered %v, want 404s then 429s", statuses)
	}
	if a := post(t, hs.URL+"/Arith/Mul", `{"A":2,"B":2}`); a.status != 200 {
		t.Fatalf("a followed service during the flood = %d %s", a.status, a.body)
	}
}
