//go:build consul

package consul

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
)

const secret = "3f1d8c52-0b7e-4a11-9e55-secret-token"

func openTarget(raw string) (core.Driver, error) {
	t, err := core.ParseTarget(raw)
	if err != nil {
		return nil, err
	}
	// As discovery.OpenContext does it: unknown options first.
	p := core.NewParams(t.Query)
	b, _ := core.LookupBackend("consul")
	p.Declare(b.Options...)
	if err := p.Unknown(); err != nil {
		return nil, err
	}
	d, err := open(context.Background(), t, p)
	if err != nil {
		return nil, err
	}
	if err := p.Unread(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// TestOpenURL: what the URL sets, what it refuses (with core.ErrInvalid and
// an error that names the fix), and that no error shows the token.
func TestOpenURL(t *testing.T) {
	good := []struct {
		url   string
		check func(*client) string
	}{
		{"consul://127.0.0.1:8500", func(c *client) string {
			if c.cfg.Mode != ModeCatalog || c.cfg.WaitTime != DefaultWaitTime || c.cfg.MinQueryInterval != DefaultMinQueryInterval ||
				c.cfg.DeregisterCriticalAfter != DefaultDeregisterCriticalAfter || c.cfg.TLS != nil || c.hasToken {
				return "defaults"
			}
			return ""
		}},
		{"consul://" + secret + "@127.0.0.1:8500/rpcx_test?mode=kv&dc=dc2&wait=30s&min_query_interval=50ms", func(c *client) string {
			if c.cfg.Mode != ModeKV || c.cfg.BasePath != "rpcx_test" || c.cfg.Token != secret || c.cfg.Datacenter != "dc2" ||
				c.cfg.WaitTime != 30*time.Second || c.cfg.MinQueryInterval != 50*time.Millisecond {
				return "kv options"
			}
			return ""
		}},
		{"consul://127.0.0.1:8500/rpcx_test", func(c *client) string {
			if c.cfg.Mode != ModeKV || c.cfg.BasePath != "rpcx_test" {
				return "mode implied by the path"
			}
			return ""
		}},
		{"consul://127.0.0.1:8500?mode=kv", func(c *client) string {
			if c.cfg.BasePath != DefaultBasePath {
				return "default base path"
			}
			return ""
		}},
		{"consul://127.0.0.1:8500/a/b/?mode=kv", func(c *client) string {
			if c.cfg.BasePath != "a/b" {
				return "nested base path " + c.cfg.BasePath
			}
			return ""
		}},
		{"consul://127.0.0.1:8500/?deregister_critical_after=5m", func(c *client) string {
			if c.cfg.DeregisterCriticalAfter != 5*time.Minute {
				return "deregister_critical_after"
			}
			return ""
		}},
		{"consul://localhost:8501?tls=true&tls_server_name=consul.internal", func(c *client) string {
			if c.cfg.TLS == nil || c.cfg.TLS.ServerName != "consul.internal" {
				return "tls"
			}
			return ""
		}},
	}
	for _, g := range good {
		d, err := openTarget(g.url)
		if err != nil {
			t.Errorf("%s: %v", core.Redact(g.url), err)
			continue
		}
		if what := g.check(clientOf(d)); what != "" {
			t.Errorf("%s: wrong %s", core.Redact(g.url), what)
		}
		d.Close()
	}

	bad := []struct{ url, want string }{
		{"consul://" + secret + "@h1:8500,h2:8500", "exactly one agent"},
		{"consul://" + secret + "@/x", "exactly one agent"},
		{"consul://user:" + secret + "@127.0.0.1:8500", "token as the user name"},
		{"consul://" + secret + "@127.0.0.1:8500?mode=etcd", "mode=catalog"},
		{"consul://" + secret + "@127.0.0.1:8500/services?mode=catalog", "only applies to mode=kv"},
		{"consul://" + secret + "@127.0.0.1:8500/services?mode=catalog&mod=kv", "unknown option(s) mod; known options: "},
		{"consul://" + secret + "@127.0.0.1:8500/a//b?mode=kv", "empty elements"},
		{"consul://" + secret + "@127.0.0.1:8500?mode=kv&deregister_critical_after=1m", "only applies to mode=catalog"},
		{"consul://" + secret + "@127.0.0.1:8500?wait=soon", "not a duration"},
		{"consul://" + secret + "@127.0.0.1:8500?min_query_interval=-1s", "must be positive"},
		{"consul://" + secret + "@127.0.0.1:8500?tls=false&tls_ca=/x", "contradicts"},
		{"consul://" + secret + "@127.0.0.1:8500?tls_cert=/x", "go together"},
		{"consul://" + secret + "@127.0.0.1:8500?tls_ca=/nonexistent.pem", "tls_ca"},
		{"consul://" + secret + "@127.0.0.1:8500?token=x", "unknown option(s) token"},
		{"consul://" + secret + "@127.0.0.1", "not host:port"},
		{"consul://" + secret + "@http:%2F%2Fh:1", "host:port"},
	}
	for _, b := range bad {
		_, err := openTarget(b.url)
		switch {
		case err == nil:
			t.Errorf("%s: accepted", core.Redact(b.url))
		case !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), b.want):
			t.Errorf("%s: %v; want ErrInvalid mentioning %q", core.Redact(b.url), err, b.want)
		case strings.Contains(err.Error(), secret):
			t.Errorf("%s: error shows the token: %v", core.Redact(b.url), err)
		}
	}
	if r := core.Redact("consul://" + secret + "@127.0.0.1:8500/x?mode=kv"); strings.Contains(r, secret) {
		t.Errorf("Redact kept the token: %s", r)
	}
}

// TestConfigDefaultsAndErrors covers New's own checks.
func TestConfigDefaultsAndErrors(t *testing.T) {
	for _, c := range []Config{
		{Address: "https://127.0.0.1:8501"},
		{Mode: "zk"},
		{WaitTime: -time.Second},
		{Token: "a b"},
	} {
		if _, err := New(c); !errors.Is(err, core.ErrInvalid) {
			t.Errorf("New(%+v) = %v, want ErrInvalid", c, err)
		}
	}
	d, err := New(Config{})
	must(t, err)
	if c := clientOf(d); c.cfg.Address != DefaultAddress {
		t.Errorf("default address %q", c.cfg.Address)
	}
	// Every call after Close is ErrClosed.
	d.Close()
	inst := core.Instance{Service: "s", Addr: "tcp@127.0.0.1:1"}
	ctx := ctxFor(t, time.Second)
	if err := d.Put(ctx, inst, time.Second); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Put after Close = %v", err)
	}
	if _, err := d.Watch(ctx, "s"); !errors.Is(err, core.ErrClosed) {
		t.Errorf("Watch after Close = %v", err)
	}
}
