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

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/backend/multi"
	"github.com/seedforge/discovery/examples/internal/arith"
	"github.com/seedforge/discovery/rpcxplugin"
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
	c, err := discovery.Open(registry)
	if err != nil {
		return err
	}
	defer c.Close()
	d, err := rpcxplugin.NewDiscovery(ctx, c, "Arith")
	if err != nil {
		return err
	}
	defer d.Close()
	xc := client.NewXClient("Arith", client.Failover, client.RoundRobin, d, client.DefaultOption)
	defer xc.Close()

	counts, err := callN(ctx, xc, calls)
	if err != nil {
		return err
	}
	fmt.Println("calls per server:", counts)

	// Keep only the first server; watchers see the new list at once.
	first := d.GetServices()[0].Key
	if err := c.Driver().(*multi.Driver).Update([]multi.Server{{Addr: first}}); err != nil {
		return err
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(d.GetServices()) != 1 {
		if time.Now().After(deadline) {
			return fmt.Errorf("update not seen")
		}
		time.Sleep(10 * time.Millisecond)
	}
	counts, err = callN(ctx, xc, calls)
	if err != nil {
		return err
	}
	fmt.Printf("after Update to %s only: %v\n", first, counts)
	if counts[first] != calls {
		return fmt.Errorf("calls reached servers outside the updated list: %v", counts)
	}
	return nil
}

func callN(ctx context.Context, xc client.XClient, n int) (map[string]int, error) {
	counts := map[string]int{}
	for i := range n {
		reply := &arith.Reply{}
		if err := xc.Call(ctx, "Mul", &arith.Args{A: i, B: 3}, reply); err != nil {
			return nil, err
		}
		counts[reply.Server]++
	}
	return counts, nil
}
