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
	"time"

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
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	s, err := arith.Start(registry, addr, meta)
	if err != nil {
		return err
	}
	fmt.Printf("serving Arith on %s, announced by mDNS\n", s.Addr)
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Shutdown deregisters: the responder stops and sends its goodbye.
	if err := s.Stop(ctx); err != nil {
		return err
	}
	fmt.Printf("stopped %s\n", s.Addr)
	return nil
}
