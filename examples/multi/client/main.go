// Command client is the multi example's client: it spreads calls over the
// fixed list in its multi:// URL, then narrows the list at run time with
// Update, as an operator draining a server would.
//
//	go run ./examples/arithserver -addr 127.0.0.1:8972 &
//	go run ./examples/arithserver -addr 127.0.0.1:8973 &
//	go run ./examples/multi/client -registry multi://tcp@127.0.0.1:8972,tcp@127.0.0.1:8973
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/smallnest/rpcx/client"
	rpcxlog "github.com/smallnest/rpcx/log"

	"github.com/seedforge/discovery/backend/multi"
	"github.com/seedforge/discovery/examples/internal/arith"
)

func main() {
	registry := flag.String("registry", "multi://tcp@127.0.0.1:8972,tcp@127.0.0.1:8973", "multi URL listing the servers")
	calls := flag.Int("calls", 20, "calls per phase")
	flag.Parse()
	if err := run(*registry, *calls); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(registry string, calls int) error {
	rpcxlog.SetDummyLogger()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := arith.Dial(ctx, registry, client.Failover, client.RoundRobin)
	if err != nil {
		return err
	}
	defer c.Close()

	counts, err := callN(ctx, c, calls)
	if err != nil {
		return err
	}
	fmt.Println("calls per server:", counts)

	// Keep only the first server; watchers see the new list at once.
	first := c.Discovery.GetServices()[0].Key
	if err := c.Registry.Driver().(*multi.Driver).Update([]multi.Server{{Addr: first}}); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(c.Discovery.GetServices()) != 1 {
		if time.Now().After(deadline) {
			return fmt.Errorf("update not seen")
		}
		time.Sleep(10 * time.Millisecond)
	}
	counts, err = callN(ctx, c, calls)
	if err != nil {
		return err
	}
	fmt.Printf("after Update to %s only: %v\n", first, counts)
	if counts[first] != calls {
		return fmt.Errorf("calls reached servers outside the updated list: %v", counts)
	}
	return nil
}

func callN(ctx context.Context, c *arith.Client, n int) (map[string]int, error) {
	counts := map[string]int{}
	for i := range n {
		reply, err := c.Mul(ctx, i, 3)
		if err != nil {
			return nil, err
		}
		counts[reply.Server]++
	}
	return counts, nil
}
