package multi

import (
	"context"
	"fmt"

	"github.com/seedforge/discovery/backend/internal/staticlist"
	"github.com/seedforge/discovery/core"
)

// Server is one address with its metadata.
type Server = staticlist.Server

// Driver is the multi backend's driver; Update replaces its list.
type Driver = staticlist.Driver

func init() {
	core.RegisterBackend(core.Backend{Scheme: "multi", ProcessLocal: true, AddressList: true, Open: func(_ context.Context, t core.Target, _ *core.Params) (core.Driver, error) {
		servers, err := staticlist.ParseAddrs(t.Raw)
		if err != nil {
			return nil, fmt.Errorf("multi://%s: %w", t.Raw, err)
		}
		return staticlist.New(servers)
	}})
}

// New returns a driver over servers.
func New(servers ...Server) (*Driver, error) { return staticlist.New(servers) }
