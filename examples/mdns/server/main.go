//go:build mdns

// Command server is the mDNS example's Arith server: it listens and then
// announces itself on the LAN by multicast DNS (DNS-SD), with no registry to
// run. Stopping it (Ctrl-C, SIGTERM) stops the announcement.
//
//	go run -tags mdns ./examples/mdns/server -addr 127.0.0.1:8972 &
//	go run -tags mdns ./examples/mdns/server -addr 127.0.0.1:8973 &
//	go run -tags mdns ./examples/mdns/client -servers 2
//
// On a real LAN, listen on (and so advertise) the machine's LAN address, and
// name the interface if the default one is not it:
// -registry 'mdns://local?interface=eth0&browse=1s&query_timeout=200ms'.
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

// defaultRegistry browses every second and listens 200ms for answers.
const defaultRegistry = "mdns://local?browse=1s&query_timeout=200ms"

func main() {
	addr := flag.String("addr", "127.0.0.1:8972", "address to listen on and announce (an IP, not 0.0.0.0)")
	registry := flag.String("registry", defaultRegistry, "mdns:// URL")
	meta := flag.String("meta", "", "metadata of the Arith service, e.g. weight=2")
	flag.Parse()
	if err := run(*addr, *registry, *meta); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

func run(addr, registry, meta string) error {
	rpcxlog.SetDummyLogger()
	// Stopping deregisters: the responder stops and sends its goodbye.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return arith.Serve(ctx, addr, registry, meta, os.Stdout)
}
