// Command arithserver is the Arith server of the p2p and multi examples: a
// plain rpcx server on a fixed address. With -registry it also registers
// itself, so the same binary works with any backend by configuration.
//
//	go run ./examples/arithserver -addr 127.0.0.1:8972
//	go run ./examples/arithserver -addr 127.0.0.1:8973 -registry 'inprocess://demo'
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	rpcxlog "github.com/smallnest/rpcx/log"

	"github.com/seedforge/discovery/examples/internal/arith"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8972", "address to listen on")
	registry := flag.String("registry", "", "registry URL to register in (empty: none, as p2p and multi need)")
	meta := flag.String("meta", "", "metadata of the Arith service, e.g. weight=2")
	flag.Parse()
	if err := run(*addr, *registry, *meta); err != nil {
		fmt.Fprintln(os.Stderr, "arithserver:", err)
		os.Exit(1)
	}
}

func run(addr, registry, meta string) error {
	rpcxlog.SetDummyLogger()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return arith.Serve(ctx, addr, registry, meta, os.Stdout)
}
