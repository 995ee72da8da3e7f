package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
)

var watchCmd = &command{
	name:    "watch",
	params:  []string{"URL", "service"},
	summary: "print the full list each time it changes, until interrupted",
	doc: `Prints the instances of service, inactive ones included, and again in full
each time the list changes (metadata included), until SIGINT or SIGTERM,
which end it with exit status 0.

With --changes it prints the full list once, then only what changed:
instances that joined or left, and metadata changes other than the load
keys a server refreshes on its own (tps, calls, connections, calls_total,
connections_open).

A registry that does not answer at the start is an error (exit 1) after
--timeout. Later outages are ridden out: the last list stays printed,
warnings go to stderr, and printing resumes when the registry is back.`,
	flags: func(fs *flag.FlagSet, o *options) {
		fs.BoolVar(&o.changes, "changes", false, "after the first list, print only joins, leaves and metadata changes, not load (tps, calls…)")
	},
	jsonDoc:    "(one array of {service, addr, meta} per line: NDJSON)",
	timeoutDoc: "how long to wait for the registry at the start, connecting included",
	run:        runWatch,
}

func runWatch(ctx context.Context, e *env, c *command, args []string) error {
	o, pos, err := parse(e, c, args)
	if err != nil {
		return err
	}
	rawURL, service := pos[0], pos[1]
	if err := core.ValidateService(service); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	what := fmt.Sprintf("watch %s in %s", service, core.Redact(rawURL))
	startCtx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cl, err := e.open(startCtx, o, rawURL, discovery.Config{})
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted: a clean end
		}
		return err
	}
	defer cl.Close()
	// One read first: a watch retries forever, so this is what reports a
	// registry that is unreachable or refuses us.
	if _, err := cl.Instances(startCtx, service, core.IncludeInactive()); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return e.failed(startCtx, o, what, err)
	}
	ch, err := cl.Watch(ctx, service, core.IncludeInactive())
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	e.started()
	var last []core.Instance
	first := true
	for list := range ch { // closed when ctx ends: SIGINT or SIGTERM
		var err error
		if o.changes && !first {
			err = e.printChanges(o, service, diffIgnoringLoad(last, list))
		} else {
			err = e.printUpdate(o, service, list)
		}
		if err != nil {
			return fmt.Errorf("%s: write: %w", what, err)
		}
		last, first = list, false
	}
	return nil
}
