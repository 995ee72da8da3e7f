package gateway_test

import (
	"bytes"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/seedforge/discovery/gateway"
)

// statuses a client may get for any input; a 500 would mean a bug.
var allowed = map[int]bool{200: true, 400: true, 404: true, 405: true, 413: true, 422: true, 429: true, 502: true, 503: true, 504: true}

// FuzzGateway sends arbitrary paths, headers and bodies to a gateway in
// front of a real rpcx server: it must answer every one with a status from
// its mapping and never crash. The seeds run with every go test.
func FuzzGateway(f *testing.F) {
	url := newRegistry()
	startRPCX(f, url, "")
	gw, err := gateway.New(gateway.Config{Discovery: open(f, url), MaxBodyBytes: 4096})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { gw.Close() })
	hs := httptest.NewServer(gw)
	f.Cleanup(hs.Close)
	waitOK(f, hs.URL+"/Arith/Mul", `{}`)

	for _, s := range []struct{ path, hdr, body string }{
		{"/Arith/Mul", "", `{"A":1,"B":2}`},
		{"/Arith/Mul", "", `[1,2,3]`},
		{"/Arith/Mul", "", `{"A":1e400}`},
		{"/Arith/Mul", "", "\x00\xff{"},
		{"/Arith/Mul", "", `"` + strings.Repeat("a", 5000) + `"`},
		{"/rpc", "", `{"service":"../../x","method":"y","request":7}`},
		{"/rpc", "", `{"service":"Arith","method":"Mul","request":null}`},
		{"/rpc", "", `{"service":"Arith","method":"","request":[]}`},
		{"/%2F/Mul", "", `{}`},
		{"/Arith/Sleep", "X-Request-Timeout:-1s", `{}`},
		{"/Arith/Sleep", "X-Request-Timeout:99999999h", `{"A":1}`},
		{"/", "X-RPCX-ServicePath:Arith\nX-RPCX-ServiceMethod:Mul\nX-RPCX-SerializeType:3", "\x81\xa1A\x01"},
		{"/", "X-RPCX-ServicePath:Arith\nX-RPCX-ServiceMethod:Mul\nX-RPCX-SerializeType:1\nX-RPCX-CompressType:1", "not gzip"},
		{"/", "X-RPCX-ServicePath:Arith\nX-RPCX-ServiceMethod:Mul\nX-RPCX-SerializeType:999", "{}"},
		{"/", "X-RPCX-ServicePath:Arith\nX-RPCX-SerializeType:1\nX-RPCX-Meta:%zz", "{}"},
		{"/", "X-RPCX-ServicePath:Arith\nX-RPCX-ServiceMethod:Mul\nX-RPCX-SerializeType:1\nX-RPCX-MessageID:x", "{}"},
	} {
		f.Add(s.path, s.hdr, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, path, hdr string, body []byte) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(http.MethodPost, hs.URL+path, bytes.NewReader(body))
		if err != nil {
			return // not a URL an HTTP client can send
		}
		for _, line := range strings.Split(hdr, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				req.Header.Set(k, v)
			}
		}
		req.Header.Set(gateway.HeaderTimeout, req.Header.Get(gateway.HeaderTimeout))
		if req.Header.Get(gateway.HeaderTimeout) == "" {
			req.Header.Set(gateway.HeaderTimeout, "2s")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return // the client refused to send it (bad header)
		}
		res.Body.Close()
		if !allowed[res.StatusCode] {
			t.Fatalf("POST %s %q %q = %d", path, hdr, body, res.StatusCode)
		}
	})
}

// TestRandomRequests throws random bytes at every route, a cheap stand-in for
// fuzzing in CI runs, which only run the seeds.
func TestRandomRequests(t *testing.T) {
	url := newRegistry()
	startRPCX(t, url, "")
	_, hs := newGateway(t, gateway.Config{Discovery: open(t, url), MaxBodyBytes: 512})
	waitOK(t, hs.URL+"/Arith/Mul", `{}`)
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`{}[]":,0123456789.eE-+ abcABC\` + "\x00\xff\n")
	paths := []string{"/Arith/Mul", "/rpc", "/Arith/Div", "/", "/x/y/z"}
	for i := range 300 {
		body := make([]byte, rng.IntN(700))
		for j := range body {
			body[j] = alphabet[rng.IntN(len(alphabet))]
		}
		hdr := []string{gateway.HeaderTimeout, "2s"}
		if i%3 == 0 {
			hdr = append(hdr, "X-RPCX-ServicePath", "Arith", "X-RPCX-ServiceMethod", "Mul", "X-RPCX-SerializeType", string(rune('1'+rng.IntN(3))))
		}
		a := post(t, hs.URL+paths[rng.IntN(len(paths))], string(body), hdr...)
		if !allowed[a.status] {
			t.Fatalf("random request %d = %d %s", i, a.status, a.body)
		}
	}
}
