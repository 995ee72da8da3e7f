//go:build consul

package consul

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/consul/consultest"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/leaktest"
)

const (
	aclManagement = "6c1b6d2e-6a0e-4f53-9d2c-1f7e3b5a9c01"
	aclBase       = "acl_base"
)

// aclAgent starts an agent whose ACLs deny by default, and a token that may
// write services named acl-* and keys under acl_base/, hold sessions, and
// read the nodes (health answers need node:read).
func aclAgent(t *testing.T) (*consultest.Agent, string) {
	a := consultest.Start(t, consultest.Options{
		Token: aclManagement,
		HCL: append([]string{`acl { enabled = true default_policy = "deny" tokens { initial_management = "` + aclManagement +
			`" agent = "` + aclManagement + `" } }`}, sharedHCL...),
	})
	ctx := ctxFor(t, 30*time.Second)
	rules := `service_prefix "acl-" { policy = "write" }
node_prefix "" { policy = "read" }
key_prefix "` + aclBase + `/" { policy = "write" }
session_prefix "" { policy = "write" }`
	must(t, a.Do(ctx, "PUT", "/v1/acl/policy", aclManagement, map[string]any{"Name": "discovery-test", "Rules": rules}, nil))
	var tok struct{ SecretID string }
	must(t, a.Do(ctx, "PUT", "/v1/acl/token", aclManagement, map[string]any{
		"Description": "discovery test", "Policies": []map[string]string{{"Name": "discovery-test"}},
	}, &tok))
	return a, tok.SecretID
}

// openURL opens a driver through the URL path, as discovery.Open does.
func openURL(t *testing.T, raw string, log *slog.Logger) (core.Driver, error) {
	t.Helper()
	target, err := core.ParseTarget(raw)
	must(t, err)
	p := core.NewParams(target.Query)
	d, err := open(context.Background(), target, p)
	if err != nil {
		return nil, err
	}
	must(t, p.Unread())
	clientOf(d).log = log
	t.Cleanup(func() { d.Close() })
	return d, nil
}

// TestACL runs against an agent whose ACLs deny by default.
//   - A token scoped to our services (and our key prefix) registers,
//     refreshes, lists and watches, in both modes.
//   - Without a token, registering fails at once with an error that says
//     permission was denied and no token was given; discovery fails too,
//     instead of delivering the empty list Consul answers anonymous requests.
//   - The scoped token on a service outside its scope gets an error naming
//     the service and the permission.
//   - The token never shows in an error or a log line.
func TestACL(t *testing.T) {
	t.Setenv("CONSUL_HTTP_TOKEN", "") // the api client would fall back to it
	t.Setenv("CONSUL_HTTP_TOKEN_FILE", "")
	leaktest.Check(t)
	a, token := aclAgent(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := ctxFor(t, 2*time.Minute)
	var errs []error

	for _, mode := range []Mode{ModeCatalog, ModeKV} {
		path, ttl := "", catalogTTL
		if mode == ModeKV {
			path, ttl = "/"+aclBase, kvTTL
		}
		q := url.Values{"mode": {string(mode)}}.Encode()
		t.Run(string(mode)+"/scoped token works", func(t *testing.T) {
			d, err := openURL(t, "consul://"+token+"@"+a.Addr+path+"?"+q, log)
			must(t, err)
			opts := core.Options{TTL: ttl, Logger: log}
			reg, err := core.NewRegistrar(d, opts)
			must(t, err)
			defer reg.Close()
			dis, err := core.NewDiscovery(d, opts)
			must(t, err)
			defer dis.Close()
			svc := "acl-" + string(mode)
			inst := core.Instance{Service: svc, Addr: "tcp@127.0.0.1:33001", Meta: core.Metadata{"group": "g"}}
			must(t, reg.Register(ctx, inst))
			ch, err := dis.Watch(ctx, svc)
			must(t, err)
			coretest.Next(t, ch, 10*time.Second, "the instance", coretest.HasAddrs(inst.Addr))
			// Refreshes (KeepAlive) pass the ACLs too: still there after 2 TTLs.
			time.Sleep(2 * ttl) // lets several refreshes run; the check below decides
			l, err := d.List(ctx, svc)
			must(t, err)
			if got := coretest.Addrs(l); len(got) != 1 {
				t.Fatalf("after 2 TTLs of refreshes: %v", got)
			}
		})
		t.Run(string(mode)+"/no token", func(t *testing.T) {
			d, err := openURL(t, "consul://"+a.Addr+path+"?"+q, log)
			must(t, err)
			reg, err := core.NewRegistrar(d, core.Options{TTL: ttl, Logger: log})
			must(t, err)
			defer reg.Close()
			start := time.Now()
			err = reg.Register(ctx, core.Instance{Service: "acl-" + string(mode), Addr: "tcp@127.0.0.1:33002"})
			if !errors.Is(err, ErrPermissionDenied) || !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "no ACL token was given") {
				t.Fatalf("Register without a token = %v; want ErrPermissionDenied and ErrInvalid saying no token was given", err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Register took %v: a refusal must not be retried", took)
			}
			t.Logf("Register: %v", err)
			errs = append(errs, err)
			_, err = d.List(ctx, "acl-"+string(mode))
			if !errors.Is(err, ErrPermissionDenied) || !strings.Contains(err.Error(), "no ACL token was given") {
				t.Fatalf("List without a token = %v; want ErrPermissionDenied, not Consul's empty answer", err)
			}
			t.Logf("List: %v", err)
			errs = append(errs, err)
			w, err := d.Watch(ctx, "acl-"+string(mode))
			must(t, err)
			defer w.Close()
			if _, err := w.Next(ctx); !errors.Is(err, ErrPermissionDenied) {
				t.Fatalf("Watcher.Next without a token = %v; want ErrPermissionDenied", err)
			}
		})
		t.Run(string(mode)+"/out of scope", func(t *testing.T) {
			// A service outside acl-*, or keys outside acl_base/.
			base, svc, want := path, "other-catalog", `service:write' on "other-catalog"`
			if mode == ModeKV {
				base, svc, want = "/other_base", "acl-kv", `key:write' on "other_base/acl-kv/` // the session is allowed, the key not
			}
			d, err := openURL(t, "consul://"+token+"@"+a.Addr+base+"?"+q, log)
			must(t, err)
			inst := core.Instance{Service: svc, Addr: "tcp@127.0.0.1:33003"}
			err = d.Put(ctx, inst, ttl)
			if !errors.Is(err, ErrPermissionDenied) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "token given lacks") {
				t.Fatalf("Put out of scope = %v; want ErrPermissionDenied naming %s", err, want)
			}
			t.Logf("Put: %v", err)
			errs = append(errs, err)
		})
	}
	for _, err := range errs {
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("an error shows the token: %v", err)
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the logs show the token:\n%s", logs.String())
	}
	if r := core.Redact("consul://" + token + "@" + a.Addr + "/x?mode=kv"); strings.Contains(r, token) {
		t.Errorf("Redact kept the token: %s", r)
	}
}
