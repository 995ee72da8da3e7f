package core

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// TLSOptions are the options TLS reads, for core.Backend.Options.
var TLSOptions = []string{"tls", "tls_ca", "tls_cert", "tls_key", "tls_server_name", "tls_insecure_skip_verify"}

// TLS reads the options tls, tls_ca, tls_cert, tls_key, tls_server_name and
// tls_insecure_skip_verify, shared by every networked backend. It returns
// nil, meaning plain connections, when none is given; any of them turns TLS
// on. Files that cannot be read or parsed are ErrInvalid errors.
func (p *Params) TLS() (*tls.Config, error) {
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
		return nil, fmt.Errorf("%w: tls=false contradicts the tls_* options given", ErrInvalid)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: name, InsecureSkipVerify: skip}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("%w: tls_ca: %v", ErrInvalid, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: tls_ca %s holds no PEM certificate", ErrInvalid, ca)
		}
		c.RootCAs = pool
	}
	switch {
	case cert != "" && key != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%w: tls_cert/tls_key: %v", ErrInvalid, err)
		}
		c.Certificates = []tls.Certificate{pair}
	case cert != "" || key != "":
		return nil, fmt.Errorf("%w: tls_cert and tls_key go together", ErrInvalid)
	}
	return c, nil
}
