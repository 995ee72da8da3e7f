//go:build etcd

package etcd

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
)

// No server needed: what Open and New make of their input. Without a user
// name New does not touch the network, so an unreachable address is fine.
func TestOpenURL(t *testing.T) {
	leakCheck(t)
	for _, c := range []struct{ url, base string }{
		{"etcd://127.0.0.1:1", DefaultBasePath},
		{"etcd://127.0.0.1:1/", DefaultBasePath},
		{"etcd://127.0.0.1:1/rpcx_test", "/rpcx_test"},
		{"etcd://127.0.0.1:1/a/b/", "/a/b"},
		{"etcd://127.0.0.1:1,127.0.0.2:1/x?dial_timeout=2s", "/x"},
		{"etcd://127.0.0.1:1?base_path=rpcx_noslash", "rpcx_noslash"},
		{"etcd://127.0.0.1:1/?base_path=/with_slash", "/with_slash"},
	} {
		d, err := openURL(t, c.url)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if d.base != c.base {
			t.Errorf("%s: base %q, want %q", c.url, d.base, c.base)
		}
		if got := d.key("S", "tcp@h:1"); got != c.base+"/S/tcp@h:1" {
			t.Errorf("%s: key %q", c.url, got)
		}
	}
	d, err := openURL(t, "etcd://127.0.0.1:1,127.0.0.2:1/x")
	if err != nil {
		t.Fatal(err)
	}
	if eps := d.cli.Endpoints(); len(eps) != 2 {
		t.Fatalf("endpoints %v, want both hosts", eps)
	}
	for _, bad := range []string{
		"etcd:///services",
		"etcd://127.0.0.1:1//x",
		"etcd://127.0.0.1:1/x?dial_timeout=soon",
		"etcd://127.0.0.1:1/x?bogus=1",
		"etcd://:pw@127.0.0.1:1/x",
		"etcd://127.0.0.1:1/x?base_path=y",
	} {
		if _, err := openURL(t, bad); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := New(Config{}); !errors.Is(err, core.ErrInvalid) {
		t.Errorf("New(Config{}) = %v, want ErrInvalid", err)
	}
}

// With a user name New authenticates, bounded by the dial timeout; the
// password never shows in the error.
func TestUnreachableWithPassword(t *testing.T) {
	leakCheck(t)
	const pw = "N0t-in-errors-5f1e"
	start := time.Now()
	_, err := newDriver(Config{Endpoints: []string{"127.0.0.1:1"}, Username: "u", Password: pw, DialTimeout: 300 * time.Millisecond, Logger: quietLogger()})
	if err == nil {
		t.Fatal("connected to nothing")
	}
	if strings.Contains(err.Error(), pw) {
		t.Fatalf("password in error: %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("New took %v despite a 300ms dial timeout", time.Since(start))
	}
}

// Calls on an unreachable cluster fail with the caller's deadline; nothing
// retries behind core's back.
func TestUnreachableCallsFail(t *testing.T) {
	leakCheck(t)
	d := newDriverT(t, Config{Endpoints: []string{"127.0.0.1:1"}})
	short := func() context.Context { return ctxT(t, 200*time.Millisecond) }
	inst := core.Instance{Service: "S", Addr: "tcp@127.0.0.1:2"}
	if err := d.Put(short(), inst, testTTL); err == nil {
		t.Fatal("Put succeeded")
	}
	if err := d.KeepAlive(short(), inst, testTTL); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("KeepAlive without a lease = %v, want ErrNotFound", err)
	}
	if _, err := d.List(short(), "S"); err == nil {
		t.Fatal("List succeeded")
	}
	ctx := short()
	w, err := d.Watch(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Next(ctx); err == nil {
		t.Fatal("Next succeeded")
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := d.Watch(context.Background(), "S"); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("Watch after Close = %v, want ErrClosed", err)
	}
}
