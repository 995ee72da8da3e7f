//go:build zookeeper

package main

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/zookeeper/zktest"
	"github.com/seedforge/discovery/internal/leaktest"
)

func init() { buildTags = append(buildTags, "zookeeper") }

// TestZooKeeper runs the register/get/list/watch flow against a real
// ZooKeeper server (skipped without java unless CI is set), then an
// unreachable one.
func TestZooKeeper(t *testing.T) {
	leaktest.Check(t)
	zk := zktest.Start(t)
	t.Run("flow", func(t *testing.T) { registryFlow(t, "zk://"+zk.Addr()+"/discovery_cli", "Arith") })
	t.Run("unreachable", func(t *testing.T) { unreachable(t, "zk://"+closedPort(t)+"/discovery_cli") })
	t.Run("refused says why", func(t *testing.T) {
		r := runCLI(t, "list", "--timeout", "2s", "zk://"+closedPort(t)+"/discovery_cli", "Arith")
		wantError(t, r, exitFailure, "could not connect to a server", "connect: connection refused")
	})
	t.Run("silent server", func(t *testing.T) {
		// A port that accepts and never answers holds the client in its
		// handshake; the command still ends at --timeout, Close included
		// (it used to take --timeout + 11 s).
		addr := silentServer(t)
		start := time.Now()
		r := runCLI(t, "list", "--timeout", "2s", "zk://"+addr+"/discovery_cli", "Arith")
		took := time.Since(start)
		wantError(t, r, exitFailure, "no answer within --timeout 2s")
		if took > 2*time.Second+slack {
			t.Fatalf("took %v for --timeout 2s", took)
		}
	})
}

// slack is what a command may take beyond its --timeout: starting the
// process and printing, on two loaded cores.
const slack = 3 * time.Second

// silentServer accepts connections and never answers; closed at cleanup.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}
