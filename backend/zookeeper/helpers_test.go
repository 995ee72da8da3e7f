//go:build zookeeper

package zookeeper_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/goleak"

	"github.com/seedforge/discovery/backend/zookeeper"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

// leakCheck makes the test fail if goroutines it started outlive it. Call
// it first, so that its cleanup runs after every other one.
func leakCheck(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// testLog collects log lines for assertions and echoes them to t.Log.
type testLog struct {
	t    testing.TB
	mu   sync.Mutex
	buf  bytes.Buffer
	done bool
}

func newTestLog(t testing.TB) *testLog {
	l := &testLog{t: t}
	t.Cleanup(func() { l.mu.Lock(); l.done = true; l.mu.Unlock() })
	return l
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.done {
		l.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *testLog) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newDriver opens a driver on addr, closed when the test ends.
func newDriver(t testing.TB, cfg zookeeper.Config) core.Driver {
	t.Helper()
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = newTestLog(t).logger()
	}
	d, err := zookeeper.New(cfg)
	if err != nil {
		t.Fatalf("zookeeper.New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// rawConn is a plain ZooKeeper client, as another program would use, closed
// (and waited for) when the test ends. auth is "user:password" or "".
func rawConn(t testing.TB, addr, auth string) *zk.Conn {
	t.Helper()
	c, events, err := zk.Connect([]string{addr}, 4*time.Second, zk.WithLogInfo(false), zk.WithLogger(quietLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		for range events {
		}
	})
	// Connected before returning, so that its goroutines exist when a leak
	// check takes its snapshot.
	poll(t, 20*time.Second, "raw client connected", func() error {
		if s := c.State(); s != zk.StateHasSession {
			return fmt.Errorf("state %v", s)
		}
		return nil
	})
	if auth != "" {
		if err := c.AddAuth("digest", []byte(auth)); err != nil {
			t.Fatalf("AddAuth: %v", err)
		}
	}
	return c
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// recorder reads a watch channel in the background and keeps every list.
type recorder struct {
	mu    sync.Mutex
	lists [][]core.Instance
	wake  chan struct{}
	done  chan struct{}
}

func record(t testing.TB, ch <-chan []core.Instance) *recorder {
	r := &recorder{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for l := range ch {
			r.mu.Lock()
			r.lists = append(r.lists, l)
			r.mu.Unlock()
			select {
			case r.wake <- struct{}{}:
			default:
			}
		}
	}()
	return r // the goroutine ends when the Discovery closes the channel
}

func (r *recorder) last() []core.Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lists) == 0 {
		return nil
	}
	return r.lists[len(r.lists)-1]
}

func (r *recorder) all() [][]core.Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lists)
}

// waitFor waits until the newest list satisfies ok.
func (r *recorder) waitFor(t testing.TB, within time.Duration, what string, ok func([]core.Instance) bool) []core.Instance {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		n := len(r.lists)
		var l []core.Instance
		if n > 0 {
			l = r.lists[n-1]
		}
		r.mu.Unlock()
		if n > 0 && ok(l) {
			return l
		}
		select {
		case <-r.wake:
		case <-r.done:
			t.Fatalf("watch closed while waiting for %s; saw %s", what, r.history())
		case <-deadline.C:
			t.Fatalf("no list with %s within %v; saw %s", what, within, r.history())
		}
	}
}

// emptySeen reports whether any recorded list was empty.
func (r *recorder) emptySeen() bool {
	for _, l := range r.all() {
		if len(l) == 0 {
			return true
		}
	}
	return false
}

func (r *recorder) history() string {
	var parts []string
	for _, l := range r.all() {
		parts = append(parts, fmt.Sprint(addrs(l)))
	}
	return strings.Join(parts, " → ")
}

// Shared with the conformance suite.
var (
	addrs    = coretest.Addrs
	hasAddrs = coretest.HasAddrs
	poll     = coretest.Poll
)

var (
	ctxFor = coretest.Context
	must   = coretest.Must
)

// client is a registrar and a discovery over one driver, like one process.
type client struct {
	d   core.Driver
	reg core.Registrar
	dis core.Discovery
}

func newClient(t testing.TB, d core.Driver, ttl time.Duration) *client {
	t.Helper()
	return newClientLog(t, d, ttl, newTestLog(t).logger())
}

// newClientLog is newClient with core logging to log.
func newClientLog(t testing.TB, d core.Driver, ttl time.Duration, log *slog.Logger) *client {
	t.Helper()
	o := core.Options{TTL: ttl, BackoffBase: 20 * time.Millisecond, BackoffCap: 500 * time.Millisecond, Logger: log}
	reg, err := core.NewRegistrar(d, o)
	must(t, err)
	dis, err := core.NewDiscovery(d, o)
	must(t, err)
	c := &client{d: d, reg: reg, dis: dis}
	t.Cleanup(func() {
		dis.Close()
		reg.Close()
	})
	return c
}
