//go:build etcd

package etcd

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seedforge/discovery/core"
)

// Services names every service with a key under the base path: the first
// element of each key {base}/{service}/{address}. One keys-only read.
func (d *driver) Services(ctx context.Context) ([]string, error) {
	root := d.base + "/"
	resp, err := d.cli.Get(ctx, root, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, d.fail("get "+root, err)
	}
	return core.ServiceNamesFromKeys(root, func(yield func(string) bool) {
		for _, kv := range resp.Kvs {
			if !yield(string(kv.Key)) {
				return
			}
		}
	}), nil
}
