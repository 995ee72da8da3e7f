//go:build consul

package consul

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/seedforge/discovery/core"
)

// open builds a driver from consul://[token@]host:port[/basePath]?….
// No error it returns holds the token.
func open(t core.Target, p *core.Params) (core.Driver, error) {
	if len(t.Hosts) != 1 {
		return nil, fmt.Errorf("%w: consul URL must name exactly one agent, like consul://127.0.0.1:8500 (got %d hosts)", core.ErrInvalid, len(t.Hosts))
	}
	cfg := Config{Address: t.Hosts[0], BasePath: t.Path}
	if t.User != nil {
		if _, hasPass := t.User.Password(); hasPass {
			return nil, fmt.Errorf("%w: consul URL: write the ACL token as the user name alone, consul://TOKEN@host:port, without ':'", core.ErrInvalid)
		}
		cfg.Token = t.User.Username()
	}
	cfg.Mode = Mode(p.String("mode", string(ModeCatalog)))
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
	if cfg.TLS, err = tlsParams(p); err != nil {
		return nil, err
	}
	return New(cfg)
}

// tlsParams reads the tls* options; nil means plain http.
func tlsParams(p *core.Params) (*tls.Config, error) {
	on, err := p.Bool("tls", false)
	if err != nil {
		return nil, err
	}
	skip, err := p.Bool("tls_insecure_skip_verify", false)
	if err != nil {
		return nil, err
	}
	ca, cert, key := p.String("tls_ca", ""), p.String("tls_cert", ""), p.String("tls_key", "")
	name := p.String("tls_server_name", "")
	explicitOff := p.Has("tls") && !on
	if !on && !skip && ca == "" && cert == "" && key == "" && name == "" {
		return nil, nil
	}
	if explicitOff {
		return nil, fmt.Errorf("%w: tls=false contradicts the tls_* options given", core.ErrInvalid)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: name, InsecureSkipVerify: skip}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("%w: tls_ca: %v", core.ErrInvalid, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: tls_ca %s holds no PEM certificate", core.ErrInvalid, ca)
		}
		c.RootCAs = pool
	}
	switch {
	case cert != "" && key != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%w: tls_cert/tls_key: %v", core.ErrInvalid, err)
		}
		c.Certificates = []tls.Certificate{pair}
	case cert != "" || key != "":
		return nil, fmt.Errorf("%w: tls_cert and tls_key go together", core.ErrInvalid)
	}
	return c, nil
}
