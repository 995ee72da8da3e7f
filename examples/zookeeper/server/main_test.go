//go:build zookeeper

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	rpcxlog "github.com/smallnest/rpcx/log"
	"go.uber.org/goleak"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/backend/zookeeper/zktest"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/examples/internal/arith"
	"github.com/seedforge/discovery/internal/proctest"
)

// rpcx's logger is a global that its goroutines read: set it once, before any.
func init() { rpcxlog.SetDummyLogger() }

// TestServer runs the example server against a real ZooKeeper, finds it and
// calls it with an rpcx XClient, then stops it and sees it deregistered.
func TestServer(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	zk := zktest.Start(t)
	url := registryURL(zk.Addr(), "/rpcx_test/")
	if url != "zk://"+zk.Addr()+"/rpcx_test" {
		t.Fatalf("registryURL = %s", url)
	}

	ctx, stop := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- arith.Serve(ctx, "127.0.0.1:0", url, "weight=2", &out) }()
	t.Cleanup(func() {
		stop()
		<-done
	})

	c, err := arith.Dial(context.Background(), url+"?interval=200ms&ttl=1s", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for len(c.Discovery.GetServices()) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("server never registered; output: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond) // polling interval; the deadline decides
	}
	if v := c.Discovery.GetServices()[0].Value; !strings.Contains(v, "weight=2") {
		t.Fatalf("registered metadata %q lacks weight=2", v)
	}
	reply, err := c.Mul(context.Background(), 10, 20)
	if err != nil || reply.C != 200 {
		t.Fatalf("Mul = %+v, %v", reply, err)
	}
	// The server says so once it has seen its record written, which may be
	// after the client found the record.
	poll(t, "the server saying it is registered", func() error {
		if !strings.Contains(out.String(), "serving Arith on tcp@127.0.0.1:") {
			return fmt.Errorf("output: %s", out.String())
		}
		return nil
	})

	stop()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	done <- nil // for the cleanup
	poll(t, "deregistered", func() error {
		reg, err := discovery.Open(url)
		if err != nil {
			return err
		}
		defer reg.Close()
		l, err := reg.Instances(context.Background(), "Arith")
		if err != nil || len(l) != 0 {
			return fmt.Errorf("%d instances, %v", len(l), err)
		}
		return nil
	})
	if !strings.Contains(out.String(), "serving Arith on tcp@127.0.0.1:") {
		t.Fatalf("output: %s", out.String())
	}
}

func poll(t *testing.T, what string, f func() error) {
	t.Helper()
	coretest.Poll(t, 20*time.Second, what, f)
}

type syncBuffer = proctest.Buffer
