package discovery_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seedforge/discovery/internal/leaktest"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/backend/inprocess"
	"github.com/seedforge/discovery/backend/multi"
	"github.com/seedforge/discovery/core"
)

func TestOpenErrors(t *testing.T) {
	cases := []struct {
		url  string
		want []string
	}{
		{"", []string{"empty registry URL"}},
		{"127.0.0.1:2379", []string{"no scheme://"}},
		{"nosuch://x", []string{"unknown scheme", "inprocess", "multi", "p2p"}},
		{"inprocess://", []string{"inprocess://NAME"}},
		{"inprocess://a?tll=3s", []string{"unknown option", "tll", "ttl"}},
		{"inprocess://a?ttl=0s", []string{"ttl=0s must be positive"}},
		{"inprocess://a?ttl=ten", []string{"not a duration"}},
		{"inprocess://a?ttl=1s&interval=2s", []string{"must be shorter than ttl"}},
		{"p2p://127.0.0.1:8972", []string{"no network@ prefix"}},
		{"p2p://tcp@h1:1,tcp@h2:2", []string{"exactly one address", "multi://"}},
		{"multi://", []string{"no server address"}},
		{"inprocess://a?group=x&group=y", []string{"given more than once: group (x, y)", "give each option once"}},
	}
	for _, c := range cases {
		_, err := discovery.Open(c.url)
		if !errors.Is(err, core.ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", c.url, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Open(%q) = %q, want it to mention %q", c.url, err, w)
			}
		}
	}
}

// Heavy backends name the build tag that compiles them in. This file is
// built without tags, so none of them is compiled in here.
func TestOpenNotCompiledIn(t *testing.T) {
	for scheme, tag := range map[string]string{"etcd": "etcd", "consul": "consul", "zk": "zookeeper", "mdns": "mdns"} {
		if _, ok := core.LookupBackend(scheme); ok {
			continue // built with its tag
		}
		_, err := discovery.Open(scheme + "://root:hunter2@127.0.0.1:1/base")
		if err == nil || !strings.Contains(err.Error(), "not compiled in") || !strings.Contains(err.Error(), "build with -tags "+tag) {
			t.Errorf("%s: %v", scheme, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: password leaked: %v", scheme, err)
		}
	}
	_, err := discovery.Open("nosuch://root:hunter2@h/x")
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("password leaked or no error: %v", err)
	}
}

func TestOpenConfigConflict(t *testing.T) {
	_, err := discovery.OpenConfig("inprocess://conflict?ttl=10s", discovery.Config{TTL: 20 * time.Second})
	if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "both in the URL and in Config") {
		t.Fatalf("got %v", err)
	}
}

func TestOpenInprocessEndToEnd(t *testing.T) {
	leaktest.Check(t)
	srv, err := discovery.Open("inprocess://root-e2e?ttl=1s&group=blue")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := discovery.Open("inprocess://root-e2e?group=blue")
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	must(t, srv.Register(ctx, core.Instance{Service: "Arith", Addr: "tcp@127.0.0.1:1", Meta: core.Metadata{"group": "blue"}}))
	must(t, srv.Register(ctx, core.Instance{Service: "Arith", Addr: "tcp@127.0.0.1:2", Meta: core.Metadata{"group": "green"}}))
	ch, err := cli.Watch(ctx, "Arith")
	must(t, err)
	// The URL's group is a default filter of every watch.
	if l := <-ch; len(l) != 1 || l[0].Addr != "tcp@127.0.0.1:1" {
		t.Fatalf("first list %v", l)
	}
	must(t, srv.Close())
	if l := <-ch; len(l) != 0 {
		t.Fatalf("after the server closed: %v", l)
	}
}

func TestMultiUpdateThroughClient(t *testing.T) {
	c, err := discovery.Open("multi://tcp@127.0.0.1:1,tcp@127.0.0.1:2")
	must(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := c.Watch(ctx, "Arith")
	must(t, err)
	if l := <-ch; len(l) != 2 {
		t.Fatalf("first list %v", l)
	}
	must(t, c.Driver().(*multi.Driver).Update([]multi.Server{{Addr: "tcp@127.0.0.1:3"}}))
	if l := <-ch; len(l) != 1 || l[0].Addr != "tcp@127.0.0.1:3" {
		t.Fatalf("after Update %v", l)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Open hands the driver the Client's logger, with the registry URL (its
// secrets redacted) attached, so drivers never log to slog.Default behind
// the user's back.
// loggerTestGot is the logger the "loggertest" driver was opened with; the
// scheme is registered once per process (a second registration panics).
var (
	loggerTestOnce sync.Once
	loggerTestGot  *slog.Logger
)

func TestOpenHandsLoggerToDriver(t *testing.T) {
	loggerTestOnce.Do(func() {
		core.RegisterBackend(core.Backend{Scheme: "loggertest", Open: func(_ context.Context, tg core.Target, _ *core.Params) (core.Driver, error) {
			loggerTestGot = tg.Logger
			return inprocess.Open("loggertest"), nil
		}})
	})
	loggerTestGot = nil
	var buf strings.Builder
	c, err := discovery.OpenConfig("loggertest://user:hunter2@h/x", discovery.Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	must(t, err)
	defer c.Close()
	if loggerTestGot == nil {
		t.Fatal("driver got no logger")
	}
	loggerTestGot.Info("from the driver")
	out := buf.String()
	if !strings.Contains(out, "from the driver") || !strings.Contains(out, "registry=loggertest://user:xxxxx@h/x") || strings.Contains(out, "hunter2") {
		t.Fatalf("driver log line: %q", out)
	}
}

func TestOpenContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := discovery.OpenContext(ctx, "inprocess://ctx", discovery.Config{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("OpenContext with a cancelled context = %v", err)
	}
}
