package arith

import (
	"context"

	"github.com/smallnest/rpcx/client"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/rpcxplugin"
)

// Client is an rpcx XClient of Arith over a registry.
type Client struct {
	XC        client.XClient
	Registry  *discovery.Client
	Discovery *rpcxplugin.Discovery
}

// Dial opens the registry at url and builds an XClient of Arith on it,
// waiting (bounded by ctx) for the first list of servers.
func Dial(ctx context.Context, url string, fail client.FailMode, sel client.SelectMode) (*Client, error) {
	reg, err := discovery.Open(url)
	if err != nil {
		return nil, err
	}
	d, err := rpcxplugin.NewDiscovery(ctx, reg, "Arith")
	if err != nil {
		reg.Close()
		return nil, err
	}
	xc := client.NewXClient("Arith", fail, sel, d, client.DefaultOption)
	return &Client{XC: xc, Registry: reg, Discovery: d}, nil
}

// Mul calls Arith.Mul.
func (c *Client) Mul(ctx context.Context, a, b int) (*Reply, error) {
	reply := &Reply{}
	err := c.XC.Call(ctx, "Mul", &Args{A: a, B: b}, reply)
	return reply, err
}

// Close closes the XClient, the adapter and the registry connection.
func (c *Client) Close() {
	c.XC.Close()
	c.Discovery.Close()
	c.Registry.Close()
}
