package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/health"
)

var registerCmd = &command{
	name:    "register",
	params:  []string{"URL", "service", "network@addr"},
	summary: "register an instance, keep it alive until interrupted, then deregister",
	doc: `Registers service at network@addr (e.g. tcp@10.0.0.1:8972) with the given
metadata, prints what it registered once the record is written, and keeps the record alive (refreshed
every ttl/3, written again after registry outages) until SIGINT or SIGTERM.
Then it deregisters and exits with status 0; a failed deregistration is
exit 1 (the record then expires after its ttl). A second signal ends the
process at once.

When the registry does not answer within --timeout (it is still starting,
or unreachable), it prints "pending ..." and keeps retrying with backoff,
without exiting, until the record is written (then "registered ...") or it
is interrupted. Bad input (a refused instance) is exit 2 at once.

The p2p, multi and inprocess schemes have no registry another process could
read, so registering there is a usage error.`,
	jsonDoc:    `(one object per event: {"event":"pending"|"registered"|"deregistered", service, addr, meta, ttl})`,
	timeoutDoc: "how long to wait for the first registration, connecting included, and for the deregistration",
	flags: func(fs *flag.FlagSet, o *options) {
		fs.Var(&o.meta, "meta", "metadata `key=value`, repeatable: --meta weight=2 --meta group=blue (state=inactive takes it out of rotation)")
		fs.StringVar(&o.health, "health", "", "serve `host:port` for probes: GET /ready answers 200 once the record is written, 503 while pending or retrying; GET /health the status as JSON")
		fs.DurationVar(&o.ttl, "ttl", 0, "how long the record outlives its last refresh, e.g. 10s (default: the URL's ttl= option, else 30s)")
	},
	run: runRegister,
}

func runRegister(ctx context.Context, e *env, c *command, args []string) error {
	o, pos, err := parse(e, c, args)
	if err != nil {
		return err
	}
	rawURL := pos[0]
	inst := core.Instance{Service: pos[1], Addr: pos[2], Meta: o.meta.m}
	if err := inst.Validate(); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	t, err := core.ParseTarget(rawURL)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if b, ok := core.LookupBackend(t.Scheme); ok && b.ProcessLocal {
		// Fixed lists (p2p, multi) or a store inside this process only.
		return usageErrorf(c.name, "%s:// has no registry that another process could read; register in etcd, consul, zk or mdns", t.Scheme)
	}
	var cfg discovery.Config
	if o.set["ttl"] {
		switch {
		case o.ttl <= 0:
			return usageErrorf(c.name, "--ttl %v must be positive, e.g. --ttl 10s", o.ttl)
		case t.Query.Has("ttl"):
			return usageErrorf(c.name, "ttl is given both as --ttl and in the URL; keep one")
		}
		cfg.TTL = o.ttl
	}
	registry := core.Redact(rawURL)
	what := fmt.Sprintf("register %s %s in %s", inst.Service, inst.Addr, registry)

	startCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cl, err := e.open(startCtx, o, rawURL, cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	if o.health != "" {
		stop, err := e.serveHealth(o.health, cl)
		if err != nil {
			return err
		}
		defer stop()
	}
	ttl := effectiveTTL(o, t)
	err = cl.Register(startCtx, inst)
	e.started()
	if errors.Is(err, core.ErrPending) {
		// Kept and retried by core: say so, and wait for the write (or an
		// interruption) instead of giving up on a registry still starting.
		if err := e.printEvent(o, "pending", inst, registry, ttl); err != nil {
			return err
		}
		fmt.Fprintln(e.stderr, "discovery: "+e.oneLine(fmt.Sprintf("%s: %v", what, err)))
		err = cl.Register(ctx, inst) // same metadata: waits, writes nothing more
		if ctx.Err() != nil {
			return e.deregister(cl, o, inst, registry, ttl)
		}
	}
	if err != nil {
		return e.failed(startCtx, o, what, err)
	}
	if err := e.printEvent(o, "registered", inst, registry, ttl); err != nil {
		return err
	}

	<-ctx.Done() // SIGINT or SIGTERM
	return e.deregister(cl, o, inst, registry, ttl)
}

// deregister deletes the record, within --timeout, once interrupted.
func (e *env) deregister(cl *discovery.Client, o *options, inst core.Instance, registry string, ttl time.Duration) error {
	stopCtx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if err := cl.Deregister(stopCtx, inst); err != nil {
		return e.failed(stopCtx, o, fmt.Sprintf("deregister %s %s from %s (the record expires %v after its last refresh)", inst.Service, inst.Addr, registry, ttl), err)
	}
	return e.printEvent(o, "deregistered", inst, registry, ttl)
}

// serveHealth serves the registration's readiness and status on addr (see
// package health) until stop; it says on stderr where.
func (e *env) serveHealth(addr string, cl *discovery.Client) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--health %s: %w", addr, err)
	}
	h := health.Handler{Registrar: cl}
	mux := http.NewServeMux()
	mux.Handle("GET /ready", h.Ready())
	mux.Handle("GET /health", h.Health())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(ln) // ends with Close
	}()
	fmt.Fprintf(e.stderr, "discovery: readiness on http://%s/ready, status on http://%s/health\n", ln.Addr(), ln.Addr())
	return func() { srv.Close(); <-done }, nil
}
