//go:build etcd || kubernetes

package testserver

import (
	"fmt"
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
	e, err := startEtcd(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.e.Close)
	return e
}

// startEtcd starts an embedded etcd in dir; the caller closes it.
func startEtcd(dir string) (*Etcd, error) {
	local := []url.URL{{Scheme: "http", Host: "127.0.0.1:0"}}
	cfg := embed.NewConfig()
	cfg.Name = "testserver"
	cfg.Dir = dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = local, local
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = local, local
	cfg.InitialCluster = cfg.Name + "=" + local[0].String()
	cfg.TickMs, cfg.ElectionMs = 10, 100
	cfg.LogLevel = "fatal"        // start/stop noise; failures show in the tests
	cfg.EnableGRPCGateway = false // its background self-dial leaves goroutines behind
	cfg.BcryptCost = 4            // bcrypt's minimum: auth tests are slow under -race otherwise
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return &Etcd{e: e}, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd failed: %w", err)
	case <-time.After(30 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd not ready within 30s")
	}
}

// Endpoint is the client address, host:port.
func (s *Etcd) Endpoint() string { return s.e.Clients[0].Addr().String() }
