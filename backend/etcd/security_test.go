//go:build etcd

package etcd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seedforge/discovery/core"
)

// openURL opens a driver the way discovery.Open does: through the scheme's
// Opener, with unread options reported.
func openURL(t testing.TB, rawURL string) (*driver, error) {
	t.Helper()
	tgt, err := core.ParseTarget(rawURL)
	if err != nil {
		return nil, err
	}
	b, ok := core.LookupBackend("etcd")
	if !ok {
		t.Fatal("etcd scheme not registered")
	}
	p := core.NewParams(tgt.Query)
	d, err := b.Open(context.Background(), tgt, p)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { d.Close() })
	if err := p.Unread(); err != nil {
		return nil, err
	}
	dd := d.(*driver)
	dd.log = quietLogger()
	return dd, nil
}

// registerAndWatch proves a driver works end to end: core registers an
// instance through it and a core subscriber on it sees the instance.
func registerAndWatch(t *testing.T, d *driver, service string) {
	t.Helper()
	ctx := ctxT(t, 30*time.Second)
	reg, err := core.NewRegistrar(d, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	dis, err := core.NewDiscovery(d, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dis.Close(); reg.Close() })
	inst := instance(service, 1, "group", "g")
	if err := reg.Register(ctx, inst); err != nil {
		t.Fatalf("Register: %v", err)
	}
	ch, err := dis.Watch(ctx, service)
	if err != nil {
		t.Fatal(err)
	}
	recv(t, ch, 10*time.Second, "the instance", hasAddrs(inst.Addr))
	if err := d.KeepAlive(ctx, inst, testTTL); err != nil {
		t.Fatalf("KeepAlive: %v", err)
	}
}

// TestAuth: etcd with auth on; user "svc" has a role that grants readwrite on
// the base path's prefix only. The driver works as that user, is refused
// outside its prefix, and a wrong password never shows in errors or logs.
func TestAuth(t *testing.T) {
	leakCheck(t)
	srv := startServer(t)
	ctx := ctxT(t, time.Minute)
	const (
		base     = "/authz"
		password = "Pa55-w0rd-svc-7f3a"
		rootPass = "R00t-pa55-91c2"
	)
	admin := rawClient(t, srv.endpoint())
	steps := []func() error{
		func() error { _, err := admin.UserAdd(ctx, "root", rootPass); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := admin.RoleAdd(ctx, "discovery"); return err },
		func() error {
			_, err := admin.RoleGrantPermission(ctx, "discovery", base+"/", clientv3.GetPrefixRangeEnd(base+"/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := admin.UserAdd(ctx, "svc", password); return err },
		func() error { _, err := admin.UserGrantRole(ctx, "svc", "discovery"); return err },
		func() error { _, err := admin.AuthEnable(ctx); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			t.Fatalf("auth setup step %d: %v", i, err)
		}
	}
	ep := srv.endpoint()

	t.Run("role on the base path", func(t *testing.T) {
		d, err := openURL(t, "etcd://svc:"+url.PathEscape(password)+"@"+ep+base)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		registerAndWatch(t, d, "S")
		root := rawClientConfig(t, clientv3.Config{Endpoints: []string{ep}, Username: "root", Password: rootPass})
		keys, err := keysUnder(ctx, root, base+"/S/")
		if err != nil || len(keys) != 1 {
			t.Fatalf("keys seen by root: %v %v", keys, err)
		}
	})

	t.Run("refused outside the base path", func(t *testing.T) {
		d, err := openURL(t, "etcd://svc:"+url.PathEscape(password)+"@"+ep+"/elsewhere")
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		err = d.Put(ctxT(t, 10*time.Second), instance("S", 1), testTTL)
		if !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Fatalf("Put outside the role's prefix = %v, want permission denied", err)
		}
		if _, err := d.List(ctxT(t, 10*time.Second), "S"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Fatalf("List outside the role's prefix = %v, want permission denied", err)
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		const wrong = "Wr0ng-pa55-zz81"
		rec := &logRecorder{}
		_, err := newDriver(Config{Endpoints: []string{ep}, Username: "svc", Password: wrong, BasePath: base, Logger: slogOf(rec)})
		if err == nil {
			t.Fatal("a wrong password was accepted")
		}
		if !errors.Is(err, rpctypes.ErrAuthFailed) {
			t.Errorf("error %v, want etcd's authentication failure", err)
		}
		if strings.Contains(err.Error(), wrong) {
			t.Fatalf("the password is in the error: %v", err)
		}
		_, err = openURL(t, "etcd://svc:"+wrong+"@"+ep+base+"?dial_timeout=3s")
		if err == nil || strings.Contains(err.Error(), wrong) {
			t.Fatalf("URL open: %v", err)
		}
		for _, l := range rec.all() {
			if strings.Contains(l, wrong) {
				t.Fatalf("the password is in the log: %s", l)
			}
		}
	})
}

// tlsFiles are PEM files of a throw-away CA, a server certificate for
// 127.0.0.1 and etcd.test, and a client certificate.
type tlsFiles struct {
	dir                                  string
	ca, serverCert, serverKey, cert, key string
}

func makeTLS(t testing.TB) tlsFiles {
	t.Helper()
	dir := t.TempDir()
	f := tlsFiles{
		dir: dir, ca: filepath.Join(dir, "ca.pem"),
		serverCert: filepath.Join(dir, "server.pem"), serverKey: filepath.Join(dir, "server-key.pem"),
		cert: filepath.Join(dir, "client.pem"), key: filepath.Join(dir, "client-key.pem"),
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "discovery test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	writePEM(t, f.ca, "CERTIFICATE", caDER)
	leaf := func(serial int64, name string, usage []x509.ExtKeyUsage, certPath, keyPath string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage,
			DNSNames: []string{"etcd.test"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, certPath, "CERTIFICATE", der)
		kder, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, keyPath, "EC PRIVATE KEY", kder)
	}
	leaf(2, "etcd.test", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, f.serverCert, f.serverKey)
	leaf(3, "discovery client", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, f.cert, f.key)
	return f
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestTLS: etcd serves clients over TLS and demands a client certificate
// signed by the test CA. The driver, configured through URL options, works;
// without its certificate or without the CA it does not get through.
func TestTLS(t *testing.T) {
	leakCheck(t)
	f := makeTLS(t)
	srv := startServer(t, withClientTLS(transport.TLSInfo{
		CertFile: f.serverCert, KeyFile: f.serverKey, TrustedCAFile: f.ca, ClientCertAuth: true,
		ClientCertFile: f.cert, ClientKeyFile: f.key,
	}))
	ep := srv.endpoint()
	q := url.Values{"tls_ca": {f.ca}, "tls_cert": {f.cert}, "tls_key": {f.key}}

	t.Run("client certificate and CA", func(t *testing.T) {
		d, err := openURL(t, "etcd://"+ep+"/tls?"+q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		registerAndWatch(t, d, "S")
	})

	t.Run("server name", func(t *testing.T) {
		q := url.Values{"tls_ca": {f.ca}, "tls_cert": {f.cert}, "tls_key": {f.key}, "tls_server_name": {"etcd.test"}}
		d, err := openURL(t, "etcd://"+ep+"/tls?"+q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		registerAndWatch(t, d, "Named")
	})

	t.Run("refused without a client certificate", func(t *testing.T) {
		d, err := openURL(t, "etcd://"+ep+"/tls?tls_ca="+url.QueryEscape(f.ca))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.List(ctxT(t, 2*time.Second), "S"); err == nil {
			t.Fatal("List succeeded without a client certificate")
		}
	})

	t.Run("refused without the CA", func(t *testing.T) {
		q := url.Values{"tls_cert": {f.cert}, "tls_key": {f.key}}
		d, err := openURL(t, "etcd://"+ep+"/tls?"+q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.List(ctxT(t, 2*time.Second), "S"); err == nil {
			t.Fatal("List succeeded with an unknown server CA")
		}
	})

	t.Run("bad options", func(t *testing.T) {
		for _, raw := range []string{
			"etcd://" + ep + "/tls?tls_cert=" + url.QueryEscape(f.cert),
			"etcd://" + ep + "/tls?tls_ca=" + url.QueryEscape(filepath.Join(f.dir, "missing.pem")),
			"etcd://" + ep + "/tls?tls_ca=" + url.QueryEscape(f.key),
			"etcd://" + ep + "/tls?tls=false&tls_ca=" + url.QueryEscape(f.ca),
			"etcd://" + ep + "/tls?tls_insecure_skip_verify=maybe",
		} {
			if _, err := openURL(t, raw); !errors.Is(err, core.ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", raw, err)
			}
		}
	})
}
