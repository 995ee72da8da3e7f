//go:build etcd

package etcd

import (
	"context"
	"fmt"
	"time"

	"github.com/seedforge/discovery/core"
)

// open builds a driver from etcd://[user:pass@]h1:2379,h2:2379/basePath?….
func open(ctx context.Context, t core.Target, p *core.Params) (core.Driver, error) {
	if len(t.Hosts) == 0 {
		return nil, fmt.Errorf("%w: etcd URL names no host; write it like etcd://127.0.0.1:2379/services", core.ErrInvalid)
	}
	cfg := Config{Endpoints: t.Hosts, BasePath: t.Path, Logger: t.Logger}
	// A URL's path always starts with '/'; rpcx also allows base paths
	// without one (rpcx_noslash), which only this option can name.
	if bp := p.String("base_path", ""); bp != "" {
		if t.Path != "" && t.Path != "/" {
			return nil, fmt.Errorf("%w: etcd URL gives the base path twice (path %q and base_path=%q); keep one", core.ErrInvalid, t.Path, bp)
		}
		cfg.BasePath = bp
	}
	if t.User != nil {
		cfg.Username = t.User.Username()
		cfg.Password, _ = t.User.Password()
	}
	var err error
	if cfg.DialTimeout, err = p.Duration("dial_timeout", DefaultDialTimeout); err != nil {
		return nil, err
	}
	// New dials (and logs in, with a user) within DialTimeout: the open
	// context's deadline, when sooner, bounds it too.
	if dl, ok := ctx.Deadline(); ok {
		cfg.DialTimeout = max(min(cfg.DialTimeout, time.Until(dl)), time.Millisecond)
	}
	if cfg.TLS, err = p.TLS(); err != nil {
		return nil, err
	}
	return New(cfg)
}
