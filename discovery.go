// Package discovery is the entry point of the framework: Open a registry by
// URL and get a Client that is both a core.Registrar (server side) and a
// core.Discovery (client side).
//
//	c, err := discovery.Open("etcd://127.0.0.1:2379/services?ttl=10s")
//	defer c.Close()
//	err = c.Register(ctx, core.Instance{Service: "Arith", Addr: "tcp@10.0.0.1:8972"})
//	ch, err := c.Watch(ctx, "Arith")
//
// The light backends (inprocess, p2p, multi) are always available; the heavy
// ones are compiled in with build tags: go build -tags "etcd consul zookeeper mdns".
package discovery

import (
	"context"
	"errors"
	"time"

	"github.com/seedforge/discovery/core"
)

// Config holds the policies core applies on top of any backend (TTL, refresh
// interval, backoff, default filters, logger). Zero fields take defaults.
type Config = core.Options

// Client is a registrar and a discovery sharing one backend connection.
type Client struct {
	core.Registrar
	core.Discovery
	driver core.Driver
	ttl    time.Duration // records' life, for the operator's drain writes
}

var (
	_ core.Registrar = (*Client)(nil)
	_ core.Discovery = (*Client)(nil)
)

// New builds a Client over a driver made in code (for example with a
// backend's own Config type). The Client owns d and closes it.
func New(d core.Driver, cfg Config) (*Client, error) {
	reg, err := core.NewRegistrar(d, cfg)
	if err != nil {
		return nil, err
	}
	dis, err := core.NewDiscovery(d, cfg)
	if err != nil {
		reg.Close()
		return nil, err
	}
	ttl := cfg.TTL
	if ttl <= 0 {
		ttl = core.DefaultTTL
	}
	return &Client{Registrar: reg, Discovery: dis, driver: d, ttl: ttl}, nil
}

// Driver returns the backend driver, for backend-specific calls such as
// multi's Update.
func (c *Client) Driver() core.Driver { return c.driver }

// Drain takes the instance of service at addr out of rotation, from
// outside its server: clients stop picking it at once, and its server keeps
// it drained across its own refreshes and re-registrations until Undrain
// (see core.SetDrained). ErrNotFound when the registry has no such record.
func (c *Client) Drain(ctx context.Context, service, addr string) error {
	return core.SetDrained(ctx, c.driver, service, addr, c.ttl, true)
}

// Undrain ends an operator's Drain.
func (c *Client) Undrain(ctx context.Context, service, addr string) error {
	return core.SetDrained(ctx, c.driver, service, addr, c.ttl, false)
}

// Close deregisters every instance this Client registered (bounded by
// Config.DeregisterTimeout), ends every watch, then closes the connection.
func (c *Client) Close() error {
	return errors.Join(c.Registrar.Close(), c.Discovery.Close(), c.driver.Close())
}
