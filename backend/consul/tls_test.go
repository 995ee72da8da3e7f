//go:build consul

package consul

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/consul/consultest"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/internal/leaktest"
)

// writeCerts makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, as PEM files in dir.
func writeCerts(t *testing.T, dir string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "discovery test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	must(t, err)
	write := func(name, typ string, der []byte) {
		must(t, os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	}
	write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost", "server.dc1.consul"},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		must(t, err)
		kder, err := x509.MarshalECPrivateKey(key)
		must(t, err)
		write(name+".pem", "CERTIFICATE", der)
		write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	leaf("server", 2, x509.ExtKeyUsageServerAuth)
	leaf("client", 3, x509.ExtKeyUsageClientAuth)
}

// TestTLS talks https to an agent that verifies client certificates: the
// tls_* options (CA, client certificate and key) work end to end; without
// the client certificate, or without the CA, calls fail with the TLS error.
func TestTLS(t *testing.T) {
	leaktest.Check(t)
	consultest.Require(t)
	dir := t.TempDir()
	writeCerts(t, dir)
	f := func(name string) string { return filepath.Join(dir, name) }
	a := consultest.Start(t, consultest.Options{
		HTTPS: true,
		HCL: []string{`tls {
  defaults { ca_file = "` + f("ca.pem") + `" cert_file = "` + f("server.pem") + `" key_file = "` + f("server-key.pem") + `" }
  https { verify_incoming = true }
}`},
	})
	ctx := ctxFor(t, time.Minute)
	inst := core.Instance{Service: svcName(t), Addr: "tcp@127.0.0.1:37001"}
	q := url.Values{"tls_ca": {f("ca.pem")}, "tls_cert": {f("client.pem")}, "tls_key": {f("client-key.pem")}}
	d, err := openTarget("consul://" + a.HTTPSAddr + "?" + q.Encode())
	must(t, err)
	defer d.Close()
	must(t, d.Put(ctx, inst, time.Minute))
	l, err := d.List(ctx, inst.Service)
	must(t, err)
	if len(l) != 1 || l[0].Addr != inst.Addr {
		t.Fatalf("List over TLS = %v", l)
	}

	for _, c := range []struct {
		name string
		q    url.Values
		want string
	}{
		{"no client certificate", url.Values{"tls_ca": {f("ca.pem")}}, "certificate"},
		{"no CA", url.Values{"tls_cert": {f("client.pem")}, "tls_key": {f("client-key.pem")}}, "certificate signed by unknown authority"},
		{"plain http", url.Values{}, "HTTP"},
	} {
		d, err := openTarget("consul://" + a.HTTPSAddr + "?" + c.q.Encode())
		must(t, err)
		_, err = d.List(ctx, inst.Service)
		d.Close()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: List = %v; want an error mentioning %q", c.name, err, c.want)
		} else {
			t.Logf("%s: %v", c.name, err)
		}
	}
}
