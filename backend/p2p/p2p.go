package p2p

import (
	"context"
	"fmt"

	"github.com/seedforge/discovery/backend/internal/staticlist"
	"github.com/seedforge/discovery/core"
)

func init() {
	core.RegisterBackend(core.Backend{Scheme: "p2p", ProcessLocal: true, AddressList: true, Open: func(_ context.Context, t core.Target, _ *core.Params) (core.Driver, error) {
		servers, err := staticlist.ParseAddrs(t.Raw)
		if err != nil {
			return nil, fmt.Errorf("p2p://%s: %w", t.Raw, err)
		}
		if len(servers) != 1 {
			return nil, fmt.Errorf("%w: p2p:// takes exactly one address; use multi://%s for several", core.ErrInvalid, t.Raw)
		}
		return staticlist.New(servers)
	}})
}

// New returns a driver for the one server at addr (network@host:port).
func New(addr string, meta core.Metadata) (core.Driver, error) {
	return staticlist.New([]staticlist.Server{{Addr: addr, Meta: meta}})
}
