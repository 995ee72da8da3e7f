//go:build consul

// Command server is rpcx's Consul registry example server (rpcx-examples,
// registry/consul/server) on this framework: an rpcx Arith server registered
// in Consul, with the same flags.
//
//	go run -tags consul ./examples/consul/server -addr localhost:8972 -consulAddr localhost:8500 -base /rpcx_test
//	go run -tags consul ./examples/consul/server -addr localhost:8973 -mode catalog
//
// With -mode kv (the default, as rpcx's example) the record is rpcx's KV
// layout, {base}/Arith/tcp@{addr} holding the metadata, kept alive by a
// session, so stock rpcx Consul clients find it too. With -mode catalog it
// is an agent service with a TTL check, which Consul's UI, DNS and health
// API show. The ACL token, if the agent needs one, comes from
// CONSUL_HTTP_TOKEN as for every Consul tool (or put it in a URL:
// consul://TOKEN@host:port).
//
// It serves until interrupted (Ctrl-C), then deregisters and exits. The
// server itself is the examples' shared one (examples/internal/arith), so
// this is the same as running the generic server with a Consul URL:
//
//	go run -tags consul ./examples/arithserver -addr localhost:8972 \
//	    -registry 'consul://localhost:8500/rpcx_test?mode=kv&interval=10s&ttl=30s'
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/seedforge/discovery/examples/internal/arith"
)

var (
	addr       = flag.String("addr", "localhost:8972", "server address")
	consulAddr = flag.String("consulAddr", "localhost:8500", "consul agent address")
	basePath   = flag.String("base", "/rpcx_test", "prefix path (mode kv)")
	mode       = flag.String("mode", "kv", "kv: rpcx's KV layout; catalog: an agent service with a TTL check")
	update     = flag.Duration("update", 10*time.Second, "refresh interval; the record expires 3 intervals after the last refresh (kv needs >= 7s with Consul's default session_ttl_min of 10s)")
	meta       = flag.String("meta", "", "metadata to register, as a URL query, e.g. weight=2&group=blue")
)

func main() {
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := arith.Serve(ctx, *addr, registryURL(*consulAddr, *basePath, *mode, *update), *meta, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// registryURL turns the rpcx example's flags into a registry URL.
func registryURL(consulAddr, base, mode string, update time.Duration) string {
	q := url.Values{"mode": {mode}, "interval": {update.String()}, "ttl": {(3 * update).String()}}
	path := ""
	if mode == "kv" {
		path = "/" + strings.Trim(base, "/")
	}
	return "consul://" + consulAddr + path + "?" + q.Encode()
}
