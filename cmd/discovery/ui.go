package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/dashboard"
)

var uiCmd = &command{
	name:    "ui",
	params:  []string{"URL"},
	summary: "serve the web dashboard of the registry until interrupted",
	doc: `Serves the dashboard at http://LISTEN/ui: the services named with
--services, their instances with metadata, weight, group, version and state,
their tps plotted live, joins and leaves, and drain/undrain buttons. The
token comes from DISCOVERY_UI_TOKEN; without one only a loopback --listen
address is accepted.`,
	timeoutDoc: "how long to wait for the registry when connecting",
	flags: func(fs *flag.FlagSet, o *options) {
		fs.StringVar(&o.listen, "listen", "127.0.0.1:8081", "address to serve the dashboard on")
		fs.StringVar(&o.services, "services", "", "comma-separated services to show, e.g. Arith,Echo")
	},
	run: runUI,
}

func runUI(ctx context.Context, e *env, c *command, args []string) error {
	o, pos, err := parse(e, c, args)
	if err != nil {
		return err
	}
	token := os.Getenv("DISCOVERY_UI_TOKEN")
	if err := dashboard.CheckExposure(o.listen, token); err != nil {
		return usageErrorf(c.name, "%v", err)
	}
	var services []string
	for _, s := range strings.Split(o.services, ",") {
		if s = strings.TrimSpace(s); s != "" {
			services = append(services, s)
		}
	}
	octx, cancel := context.WithTimeout(ctx, o.timeout)
	cl, err := e.open(octx, o, pos[0], discovery.Config{})
	cancel()
	if err != nil {
		return err
	}
	defer cl.Close()
	dash, err := dashboard.New(dashboard.Config{Discovery: cl, Services: services, Token: token,
		Drain: func(ctx context.Context, service, addr string, drained bool) error {
			if drained {
				return cl.Drain(ctx, service, addr)
			}
			return cl.Undrain(ctx, service, addr)
		}})
	if err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	defer dash.Close()
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: dash, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(func() { dash.Close() })
	fmt.Fprintf(e.stdout, "dashboard of %s on http://%s/ui\n", core.Redact(pos[0]), ln.Addr())
	e.started()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
