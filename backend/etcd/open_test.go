//go:build etcd

package etcd_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
)

// The root package opens etcd:// URLs once built with -tags etcd.
func TestRootOpen(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	c, err := discovery.Open("etcd://127.0.0.1:1/rpcx_test?ttl=6s&dial_timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = discovery.Open("etcd://127.0.0.1:1/x?tls_cafile=/ca.pem")
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "tls_cafile") || !strings.Contains(err.Error(), "tls_ca,") {
		t.Fatalf("misspelt option: %v", err)
	}
	const pw = "Hidden-pw-3c9d"
	_, err = discovery.Open("etcd://user:" + pw + "@127.0.0.1:1/x?dial_timeout=200ms")
	if err == nil || strings.Contains(err.Error(), pw) {
		t.Fatalf("open with a password: %v", err)
	}
}

// An etcd URL with a user logs in while opening; the open context's deadline
// bounds that even when dial_timeout is long.
func TestOpenContextBoundsLogin(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		c, err := discovery.OpenContext(ctx, "etcd://root:pw@127.0.0.1:1/x?dial_timeout=30s", discovery.Config{})
		if c != nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("opened an unreachable etcd")
		}
		if strings.Contains(err.Error(), "pw@") {
			t.Fatalf("password in error: %v", err)
		}
	case <-time.After(10 * time.Second): // dial_timeout is 30s: only the context can end it sooner
		t.Fatal("OpenContext ignored its deadline")
	}
}
