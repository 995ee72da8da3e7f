//go:build etcd

package testserver

import (
	"net/url"
	"testing"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Etcd is a one-member embedded etcd on free loopback ports.
type Etcd struct {
	e *embed.Etcd
}

// StartEtcd starts an embedded etcd with a temporary data directory and
// closes it when the test ends, pass or fail.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	local := []url.URL{{Scheme: "http", Host: "127.0.0.1:0"}}
	cfg := embed.NewConfig()
	cfg.Name = "testserver"
	cfg.Dir = t.TempDir()
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = local, local
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = local, local
	cfg.InitialCluster = cfg.Name + "=" + local[0].String()
	cfg.TickMs, cfg.ElectionMs = 10, 100
	cfg.LogLevel = "fatal"        // start/stop noise; failures show in the tests
	cfg.EnableGRPCGateway = false // its background self-dial leaves goroutines behind
	cfg.BcryptCost = 4            // bcrypt's minimum: auth tests are slow under -race otherwise
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	t.Cleanup(e.Close)
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		t.Fatalf("embedded etcd failed: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("embedded etcd not ready within 30s")
	}
	return &Etcd{e: e}
}

// Endpoint is the client address, host:port.
func (s *Etcd) Endpoint() string { return s.e.Clients[0].Addr().String() }
