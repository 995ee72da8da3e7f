// Command gateway serves the services of a registry over HTTP: POST
// /{service}/{method} with a JSON body, POST /rpc, and rpcx's HTTP gateway
// headers (see package gateway). It speaks every backend compiled into it:
//
//	go install -tags "etcd consul zookeeper mdns" ./cmd/gateway
//	gateway --registry etcd://127.0.0.1:2379/services --listen 127.0.0.1:8080
//	curl -d '{"A":6,"B":7}' http://127.0.0.1:8080/Arith/Mul
//
// Per-service settings, repeatable:
//
//	--service 'Arith:selector=consistenthash,hash_header=X-User,idempotent=true,timeout=2s,fail=failover,retries=2'
//
// The dashboard is served at /ui (--no-ui to leave it out). Its token comes
// from the DISCOVERY_UI_TOKEN environment variable; without one the gateway
// refuses to listen on a non-loopback address.
//
// Exit status: 0 after a clean shutdown (SIGINT, SIGTERM), 1 when serving
// fails, 2 on a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/dashboard"
	"github.com/seedforge/discovery/gateway"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop) // a second signal ends the process at once
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run serves until ctx ends and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "gateway: "+core.Redact(err.Error()))
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	code, err := serve(ctx, o, stdout, log)
	if err != nil {
		fmt.Fprintln(stderr, "gateway: "+err.Error())
	}
	return code
}

func serve(ctx context.Context, o *options, stdout io.Writer, log *slog.Logger) (int, error) {
	octx, cancel := context.WithTimeout(ctx, o.openTimeout)
	client, err := discovery.OpenContext(octx, o.registry, discovery.Config{Logger: log})
	cancel()
	if err != nil {
		if errors.Is(err, core.ErrInvalid) {
			return 2, err
		}
		return 1, err
	}
	defer client.Close()
	gw, err := gateway.New(gateway.Config{
		Discovery: client, Default: o.defaults, Services: o.services,
		MaxBodyBytes: o.maxBody, Logger: log,
	})
	if err != nil {
		return 2, err
	}
	defer gw.Close()

	var dash *dashboard.Handler
	if !o.noUI {
		if err := dashboard.CheckExposure(o.listen, o.uiToken); err != nil {
			return 2, err
		}
		dash, err = dashboard.New(dashboard.Config{
			Discovery: client, Services: slices.Sorted(maps.Keys(o.services)), Token: o.uiToken, Logger: log,
			Drain: func(ctx context.Context, service, addr string, drained bool) error {
				if drained {
					return client.Drain(ctx, service, addr)
				}
				return client.Undrain(ctx, service, addr)
			},
		})
		if err != nil {
			return 2, err
		}
		gw.Handle("GET /ui", dash)
		gw.Handle("GET /ui/{path...}", dash)
		gw.Handle("POST /ui/api/drain", dash)
	}

	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return 1, err
	}
	srv := &http.Server{Handler: gw, ReadHeaderTimeout: 10 * time.Second}
	if dash != nil {
		srv.RegisterOnShutdown(func() { dash.Close() }) // ends the event streams Shutdown waits for
		defer dash.Close()
	}
	fmt.Fprintf(stdout, "gateway on http://%s for %s\n", ln.Addr(), core.Redact(o.registry))
	if dash != nil {
		fmt.Fprintf(stdout, "dashboard on http://%s/ui\n", ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return 1, err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		return 1, err
	}
	return 0, nil
}
