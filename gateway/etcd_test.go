//go:build etcd

package gateway_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/gateway"
	"github.com/seedforge/discovery/internal/testserver"
)

// Through a real etcd: calls spread over the registered servers, and a
// server that leaves stops receiving calls while none fail.
func TestEtcdBackend(t *testing.T) {
	e := testserver.StartEtcd(t)
	url := fmt.Sprintf("etcd://%s/gateway-test?ttl=5s", e.Endpoint())
	a, b := startRPCX(t, url, ""), startRPCX(t, url, "")
	_, hs := newGateway(t, gateway.Config{Discovery: open(t, url), Default: gateway.Service{Selector: "roundrobin"}})

	coretest.Poll(t, 20*time.Second, "calls reaching both servers", func() error {
		seen := map[string]bool{}
		for range 6 {
			seen[decode(t, waitOK(t, hs.URL+"/Arith/Mul", `{"A":1,"B":1}`)).Server] = true
		}
		if !seen[a.Addr] || !seen[b.Addr] {
			return fmt.Errorf("calls reached %v", seen)
		}
		return nil
	})
	a.Stop() // deregisters from etcd
	coretest.Poll(t, 20*time.Second, "calls reaching only the live server", func() error {
		for range 6 {
			ans := post(t, hs.URL+"/Arith/Mul", `{"A":2,"B":3}`)
			if ans.status != 200 {
				return fmt.Errorf("status %d: %s", ans.status, ans.body)
			}
			if s := decode(t, ans).Server; s != b.Addr {
				return fmt.Errorf("a call reached %s", s)
			}
		}
		return nil
	})
}
