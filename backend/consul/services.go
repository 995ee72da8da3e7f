//go:build consul

package consul

import (
	"context"
	"fmt"
	"slices"

	"github.com/seedforge/discovery/core"
)

// Services names every service of the catalog, the ones other tools
// registered included (their instances are read as tcp@Address:Port).
func (d *catalogDriver) Services(ctx context.Context) ([]string, error) {
	if d.closed() {
		return nil, core.ErrClosed
	}
	ctx, cancel := d.bind(ctx)
	defer cancel()
	services, meta, err := d.api.Catalog().Services(d.query(ctx, 0, 0))
	if err != nil {
		return nil, d.fail("catalog services", err)
	}
	if meta.ResultsFilteredByACLs {
		return nil, fmt.Errorf("consul catalog services: %w: some services were hidden by ACLs: the token needs service:read on them", ErrPermissionDenied)
	}
	out := make([]string, 0, len(services))
	for name := range services {
		out = append(out, name)
	}
	return out, nil
}

// Services names every service with a key {base}/{service}/{address}.
func (d *kvDriver) Services(ctx context.Context) ([]string, error) {
	if d.closed() {
		return nil, core.ErrClosed
	}
	ctx, cancel := d.bind(ctx)
	defer cancel()
	root := d.base + "/"
	keys, meta, err := d.api.KV().Keys(root, "", d.query(ctx, 0, 0))
	if err != nil {
		return nil, d.fail("keys "+root, err)
	}
	if meta.ResultsFilteredByACLs {
		return nil, fmt.Errorf("consul kv keys %s: %w: some keys were hidden by ACLs: the token needs key:read on the prefix %q", root, ErrPermissionDenied, root)
	}
	return core.ServiceNamesFromKeys(root, slices.Values(keys)), nil
}
