//go:build zookeeper

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	rpcxlog "github.com/smallnest/rpcx/log"
	"go.uber.org/goleak"

	"github.com/seedforge/discovery/backend/zookeeper/zktest"
	"github.com/seedforge/discovery/examples/internal/arith"
)

// rpcx's logger is a global that its goroutines read: set it once, before any.
func init() { rpcxlog.SetDummyLogger() }

// TestClient runs the example client against an Arith server registered in
// a real ZooKeeper and checks its answers.
func TestClient(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	zk := zktest.Start(t)
	url := registryURL(zk.Addr(), "rpcx_test")

	s, err := arith.Start(url, "127.0.0.1:0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, url, 3, 10*time.Millisecond, &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := strings.Count(out.String(), "10 * 20 = 200 (served by "+s.Addr+")"); got != 3 {
		t.Fatalf("want 3 answers from %s; output:\n%s", s.Addr, out.String())
	}
}
