//go:build etcd

package etcd

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

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
	if cfg.TLS, err = tlsParams(p); err != nil {
		return nil, err
	}
	return New(cfg)
}

// tlsParams reads the tls* options; nil means plain connections.
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
