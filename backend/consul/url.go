//go:build consul

package consul

import (
	"context"
	"fmt"
	"strings"

	"github.com/seedforge/discovery/core"
)

// open builds a driver from consul://[token@]host:port[/basePath]?….
// No error it returns holds the token.
func open(_ context.Context, t core.Target, p *core.Params) (core.Driver, error) {
	if len(t.Hosts) != 1 {
		return nil, fmt.Errorf("%w: consul URL must name exactly one agent, like consul://127.0.0.1:8500 (got %d hosts)", core.ErrInvalid, len(t.Hosts))
	}
	cfg := Config{Address: t.Hosts[0], BasePath: t.Path, Logger: t.Logger}
	if t.User != nil {
		if _, hasPass := t.User.Password(); hasPass {
			return nil, fmt.Errorf("%w: consul URL: write the ACL token as the user name alone, consul://TOKEN@host:port, without ':'", core.ErrInvalid)
		}
		cfg.Token = t.User.Username()
	}
	// Only kv mode has a path, so a path alone means kv: the URL of rpcx's
	// layout, consul://host:8500/rpcx_test, works as written.
	defaultMode := ModeCatalog
	if strings.Trim(t.Path, "/") != "" {
		defaultMode = ModeKV
	}
	cfg.Mode = Mode(p.String("mode", string(defaultMode)))
	if cfg.Mode != ModeCatalog && cfg.Mode != ModeKV {
		return nil, fmt.Errorf("%w: option mode=%q: use mode=catalog (agent services with TTL checks) or mode=kv (rpcx's KV layout)", core.ErrInvalid, cfg.Mode)
	}
	cfg.Datacenter = p.String("dc", "")
	var err error
	if cfg.WaitTime, err = p.Duration("wait", 0); err != nil {
		return nil, err
	}
	if cfg.MinQueryInterval, err = p.Duration("min_query_interval", 0); err != nil {
		return nil, err
	}
	if cfg.DeregisterCriticalAfter, err = p.Duration("deregister_critical_after", 0); err != nil {
		return nil, err
	}
	if cfg.DeregisterCriticalAfter != 0 && cfg.Mode != ModeCatalog {
		return nil, fmt.Errorf("%w: option deregister_critical_after only applies to mode=catalog", core.ErrInvalid)
	}
	if cfg.TLS, err = p.TLS(); err != nil {
		return nil, err
	}
	return New(cfg)
}
