package core

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseTarget(t *testing.T) {
	tg, err := ParseTarget("etcd://root:s3cr%40t@h1:2379,h2:2379/services?ttl=10s")
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := tg.User.Password()
	if tg.Scheme != "etcd" || tg.User.Username() != "root" || pass != "s3cr@t" ||
		!slices.Equal(tg.Hosts, []string{"h1:2379", "h2:2379"}) || tg.Path != "/services" || tg.Query.Get("ttl") != "10s" {
		t.Fatalf("%+v", tg)
	}
	m, err := ParseTarget("multi://tcp@h1:8972,tcp@h2:8972")
	if err != nil || m.Raw != "tcp@h1:8972,tcp@h2:8972" {
		t.Fatalf("%+v %v", m, err)
	}
	for _, bad := range []string{"", "  ", "127.0.0.1:2379", "://x", "etcd://h?%zz"} {
		if _, err := ParseTarget(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseTarget(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestRedact(t *testing.T) {
	if _, ok := LookupBackend("secretuser-test"); !ok { // once per process: -count=N reruns
		RegisterBackend(Backend{Scheme: "secretuser-test", Open: func(context.Context, Target, *Params) (Driver, error) { return nil, nil }, SecretUser: true})
	}
	cases := map[string]string{
		"etcd://root:hunter2@h1:2379,h2:2379/services": "hunter2",
		"secretuser-test://tok-123@127.0.0.1:8500/x":   "tok-123",
		"consul://127.0.0.1:8500/x?token=tok-456":      "tok-456",
		"etcd://u:p4ss@h:1/x?password=pw-789":          "pw-789",
		"etcd://u:p4ss word@h:1/%zz":                   "p4ss",
	}
	for in, secret := range cases {
		out := Redact(in)
		if strings.Contains(out, secret) {
			t.Errorf("Redact(%q) = %q still holds the secret", in, out)
		}
		if !strings.Contains(out, "xxxxx") {
			t.Errorf("Redact(%q) = %q: no redaction marker", in, out)
		}
	}
	if got := Redact("etcd://h1:2379/services?ttl=10s"); got != "etcd://h1:2379/services?ttl=10s" {
		t.Errorf("URL without secrets changed: %q", got)
	}
}

func TestParamsRejectUnknown(t *testing.T) {
	p := NewParams(map[string][]string{"ttl": {"10s"}, "tll": {"5s"}})
	if _, err := p.Duration("ttl", 0); err != nil {
		t.Fatal(err)
	}
	err := p.Unread()
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "tll") || !strings.Contains(err.Error(), "ttl") {
		t.Fatalf("Unread() = %v; want it to name tll and the known ttl", err)
	}
	for _, bad := range []string{"0s", "-1s", "ten"} {
		p := NewParams(map[string][]string{"ttl": {bad}})
		if _, err := p.Duration("ttl", 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("ttl=%s accepted", bad)
		}
	}
}

func TestParamsTLS(t *testing.T) {
	none := NewParams(map[string][]string{})
	if c, err := none.TLS(); c != nil || err != nil {
		t.Fatalf("no tls options: %v %v, want plain", c, err)
	}
	on := NewParams(map[string][]string{"tls": {"true"}, "tls_server_name": {"etcd.test"}})
	if c, err := on.TLS(); err != nil || c == nil || c.ServerName != "etcd.test" {
		t.Fatalf("tls=true: %+v %v", c, err)
	}
	for name, q := range map[string]map[string][]string{
		"cert without key": {"tls_cert": {"/nonexistent.pem"}},
		"unreadable ca":    {"tls_ca": {"/nonexistent-ca.pem"}},
		"off with options": {"tls": {"false"}, "tls_server_name": {"x"}},
		"not a bool":       {"tls": {"yes please"}},
	} {
		if _, err := NewParams(q).TLS(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}
