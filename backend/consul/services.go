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
	scope := readScope{op: "catalog services", needs: "service:read on every service"}
	if err := d.checkAnswer(ctx, scope, err, meta, false); err != nil {
		return nil, err
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
	scope := readScope{op: "keys " + root, needs: fmt.Sprintf("key:read on the prefix %q", root)}
	if err := d.checkAnswer(ctx, scope, err, meta, false); err != nil {
		return nil, err
	}
	return core.ServiceNamesFromKeys(root, slices.Values(keys)), nil
}
