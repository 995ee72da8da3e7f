//go:build mdns

// Command client is the mDNS example's client: it browses the LAN for Arith
// servers, waits until it has found -servers of them, and spreads calls over
// them with round robin.
//
//	go run -tags mdns ./examples/mdns/server -addr 127.0.0.1:8972 &
//	go run -tags mdns ./examples/mdns/server -addr 127.0.0.1:8973 &
//	go run -tags mdns ./examples/mdns/client -servers 2
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/smallnest/rpcx/client"
	rpcxlog "github.com/smallnest/rpcx/log"

	"github.com/seedforge/discovery/examples/internal/arith"
)

func main() {
	registry := flag.String("registry", "mdns://local?browse=1s&query_timeout=200ms", "mdns:// URL")
	servers := flag.Int("servers", 1, "how many servers to find before calling")
	calls := flag.Int("calls", 10, "how many calls to make")
	wait := flag.Duration("wait", 15*time.Second, "how long to look for the servers")
	flag.Parse()
	if err := run(*registry, *servers, *calls, *wait); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(registry string, servers, calls int, wait time.Duration) error {
	rpcxlog.SetDummyLogger()
	ctx, cancel := context.WithTimeout(context.Background(), wait+30*time.Second)
	defer cancel()
	start := time.Now()
	// -wait bounds the search, the first browse included.
	dialCtx, cancelDial := context.WithTimeout(ctx, wait)
	defer cancelDial()
	c, err := arith.Dial(dialCtx, registry, client.Failover, client.RoundRobin)
	if err != nil {
		return fmt.Errorf("no Arith server found within -wait %v: %w", wait, err)
	}
	defer c.Close()

	// mDNS is eventually consistent: the first browse may not have heard
	// every server yet, so wait for as many as were asked for.
	deadline := time.Now().Add(wait)
	for len(c.Discovery.GetServices()) < servers {
		if time.Now().After(deadline) {
			return fmt.Errorf("found %d Arith server(s) in %v, want %d", len(c.Discovery.GetServices()), wait, servers)
		}
		time.Sleep(20 * time.Millisecond) // polling; the deadline decides
	}
	var found []string
	for _, p := range c.Discovery.GetServices() {
		found = append(found, p.Key)
	}
	slices.Sort(found)
	fmt.Printf("found %d server(s) in %v: %v\n", len(found), time.Since(start).Round(time.Millisecond), found)

	counts := map[string]int{}
	for i := range calls {
		reply, err := c.Mul(ctx, i, 10)
		if err != nil {
			return fmt.Errorf("call %d: %w", i, err)
		}
		counts[reply.Server]++
		fmt.Printf("%d * 10 = %d (from %s)\n", i, reply.C, reply.Server)
	}
	fmt.Println("calls per server:", counts)
	return nil
}
