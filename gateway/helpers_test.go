package gateway_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/gateway"
	"github.com/seedforge/discovery/internal/testserver"
)

// Reply is the Arith server's answer.
type Reply = testserver.Reply

var seq atomic.Int64

// newRegistry returns a fresh in-process registry URL.
func newRegistry() string { return fmt.Sprintf("inprocess://gateway-%d", seq.Add(1)) }

func open(t testing.TB, url string) *discovery.Client { return testserver.Open(t, url) }

func startRPCX(t testing.TB, url, meta string) *testserver.RPCX {
	return testserver.StartRPCX(t, url, meta)
}

// newGateway serves a Gateway over client on an httptest server.
func newGateway(t testing.TB, cfg gateway.Config) (*gateway.Gateway, *httptest.Server) {
	t.Helper()
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(gw)
	t.Cleanup(func() {
		hs.Close()
		gw.Close()
	})
	return gw, hs
}

// answer is an HTTP response read whole.
type answer struct {
	status int
	header http.Header
	body   string
}

func post(t testing.TB, url, body string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{res.StatusCode, res.Header, string(b)}
}

// waitOK polls until a call answers 200 (servers register once they
// listen), and returns that answer.
func waitOK(t testing.TB, url, body string, header ...string) answer {
	t.Helper()
	var a answer
	coretest.Poll(t, 20*time.Second, "a 200 from "+url, func() error {
		a = post(t, url, body, header...)
		if a.status != http.StatusOK {
			return fmt.Errorf("status %d: %s", a.status, a.body)
		}
		return nil
	})
	return a
}

// register writes a record directly, for instances that are not rpcx
// servers (an address where nothing listens, a drained instance).
func register(t testing.TB, c *discovery.Client, service, addr string, meta core.Metadata) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Register(ctx, core.Instance{Service: service, Addr: addr, Meta: meta}); err != nil {
		t.Fatal(err)
	}
}
