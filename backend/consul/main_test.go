//go:build consul

package consul

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/seedforge/discovery/backend/consul/consultest"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

// shared is the agent most tests use: starting one costs about a second of
// the 2-core machine's time, so tests share it and keep apart by service name.
// Tests that restart or reconfigure an agent start their own.
var (
	shared    *consultest.Agent
	sharedErr error
)

// sharedHCL lets kv mode use sessions of 1s, so records can live 2s.
var sharedHCL = []string{`session_ttl_min = "1s"`}

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(m.Run()) // a child process of TestProcessCrash: no agent
	}
	// Started here, not lazily in a test, so its process-watching goroutines
	// predate every goroutine-leak snapshot.
	if _, err := consultest.Binary(); err == nil {
		shared, sharedErr = consultest.New(consultest.Options{HCL: sharedHCL})
	}
	code := m.Run()
	if shared != nil {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// sharedAgent returns the shared agent, or skips (fails under CI) without a
// consul binary.
func sharedAgent(t testing.TB) *consultest.Agent {
	t.Helper()
	consultest.Require(t)
	if sharedErr != nil {
		t.Fatalf("shared consul agent: %v", sharedErr)
	}
	return shared
}

// testConfig is cfg pointed at a with short blocking-query waits, so tests
// that wait on a query's end (index going backwards) stay short.
func testConfig(a *consultest.Agent, mode Mode, cfg Config) Config {
	cfg.Address = a.Addr
	cfg.Mode = mode
	if mode == ModeKV && cfg.BasePath == "" {
		cfg.BasePath = "seedforge_test"
	}
	if cfg.WaitTime == 0 {
		cfg.WaitTime = 10 * time.Second
	}
	return cfg
}

func newDriver(t testing.TB, a *consultest.Agent, mode Mode, cfg Config) core.Driver {
	t.Helper()
	d, err := New(testConfig(a, mode, cfg))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// clientOf is the part of d both modes share.
func clientOf(d core.Driver) *client {
	switch v := d.(type) {
	case *catalogDriver:
		return v.client
	case *kvDriver:
		return v.client
	}
	panic(fmt.Sprintf("not a consul driver: %T", d))
}

// svcName is a service name unique to t (subtests' '/' would be refused).
func svcName(t testing.TB) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '-'
	}, t.Name())
}

// rawAPI is a plain api client on a, for the raw side of tests and
// benchmarks; its idle connections are dropped when t ends.
func rawAPI(t testing.TB, a *consultest.Agent, token string) *api.Client {
	t.Helper()
	tr := &http.Transport{}
	c, err := api.NewClient(&api.Config{Address: a.Addr, Token: token, Transport: tr, HttpClient: &http.Client{Transport: tr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return c
}

var (
	ctxFor = coretest.Context
	must   = coretest.Must
)

// testLogger logs through t, so a test's log shows with its failure (or -v)
// instead of interleaving with other tests'.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// kvKey is the key of inst under the test base path.
func kvKey(service, addr string) string { return "seedforge_test/" + service + "/" + addr }
