//go:build etcd

package etcd

import (
	"fmt"

	"github.com/seedforge/discovery/core"
)

// open builds a driver from etcd://[user:pass@]h1:2379,h2:2379/basePath?….
func open(t core.Target, p *core.Params) (core.Driver, error) {
	if len(t.Hosts) == 0 {
		return nil, fmt.Errorf("%w: etcd URL names no host; write it like etcd://127.0.0.1:2379/services", core.ErrInvalid)
	}
	cfg := Config{Endpoints: t.Hosts, BasePath: t.Path, Logger: t.Logger}
	if t.User != nil {
		cfg.Username = t.User.Username()
		cfg.Password, _ = t.User.Password()
	}
	var err error
	if cfg.DialTimeout, err = p.Duration("dial_timeout", DefaultDialTimeout); err != nil {
		return nil, err
	}
	if cfg.TLS, err = p.TLS(); err != nil {
		return nil, err
	}
	return New(cfg)
}
