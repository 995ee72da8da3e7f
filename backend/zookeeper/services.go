//go:build zookeeper

package zookeeper

import (
	"context"
	"errors"

	"github.com/go-zookeeper/zk"
)

// Services names the children of the base path: one node per service that
// was ever registered. Empty ones (rpcx leaves them behind) are dropped by
// core once it has counted them.
func (d *driver) Services(ctx context.Context) ([]string, error) {
	if err := d.auth(ctx); err != nil {
		return nil, err
	}
	children, err := call(ctx, d, func() ([]string, error) {
		c, _, err := d.conn.Children(d.cfg.BasePath)
		return c, err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, d.wrap("list services", d.cfg.BasePath, err)
	}
	return children, nil
}
