// Command quickstart runs the whole product in one process, with no external
// server: three rpcx Arith servers register in the in-process registry (one
// with weight 2), a client discovers them and spreads ~300 calls with
// weighted round robin, then one server stops and the client carries on
// without a failed call.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/smallnest/rpcx/client"
	rpcxlog "github.com/smallnest/rpcx/log"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/examples/internal/arith"
)

// Refresh every second so the servers' load (tps) shows up quickly.
const registry = "inprocess://quickstart?ttl=3s&interval=1s"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run() error {
	rpcxlog.SetDummyLogger()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var servers []*arith.Server
	for _, meta := range []string{"weight=1", "weight=1", "weight=2"} {
		s, err := arith.Start(registry, "127.0.0.1:0", meta)
		if err != nil {
			return err
		}
		defer s.Stop(context.Background())
		servers = append(servers, s)
		if err := s.WaitRegistered(ctx); err != nil {
			return err
		}
		fmt.Printf("server %s listening, registered Arith with %s\n", s.Addr, meta)
	}

	c, err := arith.Dial(ctx, registry, client.Failover, client.WeightedRoundRobin)
	if err != nil {
		return err
	}
	defer c.Close()
	reg, d := c.Registry, c.Discovery
	if err := waitFor(ctx, func() bool { return len(d.GetServices()) == 3 }); err != nil {
		return fmt.Errorf("client did not discover 3 servers: %w", err)
	}

	counts, failed := call(ctx, c, 300)
	fmt.Println("\n300 calls with weighted round robin:")
	printCounts(counts, servers)

	// The servers publish their load with their next refresh.
	fmt.Println("\nload published by each server (tps = 1-minute EWMA of calls/s):")
	if err := waitFor(ctx, func() bool { return allPublished(ctx, reg) }); err != nil {
		return fmt.Errorf("tps never published: %w", err)
	}
	insts, err := reg.Instances(ctx, "Arith")
	if err != nil {
		return err
	}
	for _, in := range insts {
		fmt.Printf("  %s  weight=%s tps=%s calls_total=%s\n", in.Addr, in.Meta["weight"], in.Meta["tps"], in.Meta["calls_total"])
	}

	// Stop one server while calls keep flowing: it deregisters first, and a
	// call caught by the shutdown fails over to another server.
	stopped := servers[2]
	fmt.Printf("\nstopping %s (weight 2) while calls keep flowing\n", stopped.Addr)
	during := make(chan [2]int)
	stopCalling := make(chan struct{})
	go func() {
		n, bad := 0, 0
		for {
			select {
			case <-stopCalling:
				during <- [2]int{n, bad}
				return
			default:
			}
			_, f := call(ctx, c, 1)
			n, bad = n+1, bad+f
		}
	}()
	if err := stopped.Stop(ctx); err != nil {
		return err
	}
	if err := waitFor(ctx, func() bool { return len(d.GetServices()) == 2 }); err != nil {
		return fmt.Errorf("client still sees the stopped server: %w", err)
	}
	close(stopCalling)
	res := <-during
	fmt.Printf("%d calls made during the shutdown, %d failed\n", res[0], res[1])
	failed += res[1]
	more, moreFailed := call(ctx, c, 100)
	fmt.Println("100 more calls:")
	printCounts(more, servers[:2])
	failed += moreFailed
	fmt.Printf("\nfailed calls: %d\n", failed)
	if failed != 0 || more[stopped.Addr] != 0 {
		return fmt.Errorf("%d calls failed, %d reached the stopped server", failed, more[stopped.Addr])
	}
	return nil
}

func call(ctx context.Context, c *arith.Client, n int) (map[string]int, int) {
	counts := map[string]int{}
	failed := 0
	for i := range n {
		reply, err := c.Mul(ctx, i, 2)
		if err != nil || reply.C != 2*i {
			failed++
			continue
		}
		counts[reply.Server]++
	}
	return counts, failed
}

func printCounts(counts map[string]int, servers []*arith.Server) {
	for _, s := range servers {
		fmt.Printf("  %s  %3d calls\n", s.Addr, counts[s.Addr])
	}
}

func allPublished(ctx context.Context, reg *discovery.Client) bool {
	insts, err := reg.Instances(ctx, "Arith")
	if err != nil || len(insts) != 3 {
		return false
	}
	return !slices.ContainsFunc(insts, func(in core.Instance) bool { return in.Meta["tps"] == "" })
}

func waitFor(ctx context.Context, ok func() bool) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !ok() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
