// Command client is the p2p example's client: it calls the one server named
// in its p2p:// URL.
//
//	go run ./examples/arithserver -addr 127.0.0.1:8972 &
//	go run ./examples/p2p/client -registry p2p://tcp@127.0.0.1:8972
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/smallnest/rpcx/client"
	rpcxlog "github.com/smallnest/rpcx/log"

	"github.com/seedforge/discovery/examples/internal/arith"
)

func main() {
	registry := flag.String("registry", "p2p://tcp@127.0.0.1:8972", "p2p URL of the server")
	calls := flag.Int("calls", 10, "how many calls to make")
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
	c, err := arith.Dial(ctx, registry, client.Failtry, client.RandomSelect)
	if err != nil {
		return err
	}
	defer c.Close()
	for i := range calls {
		reply, err := c.Mul(ctx, i, 10)
		if err != nil {
			return fmt.Errorf("call %d: %w", i, err)
		}
		fmt.Printf("%d * 10 = %d (from %s)\n", i, reply.C, reply.Server)
	}
	return nil
}
