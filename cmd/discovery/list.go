package main

import (
	"context"
	"fmt"

	"github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
)

var listCmd = &command{
	name:    "list",
	params:  []string{"URL", "[service]"},
	summary: "the instances clients are given (inactive ones left out)",
	doc: `Prints the instances of service that clients are given: those whose
state is "inactive" are left out, and the URL's group=/version= options
filter the list. Use 'discovery get' to see every record, inactive ones
included.

Without a service there is nothing to list: the driver API every backend
implements lists the instances of one named service and has no call that
enumerates services, so 'discovery list URL' is a usage error (exit 2)
rather than a guess that would work on some backends only.`,
	jsonDoc:    "(an array of {service, addr, meta})",
	timeoutDoc: "how long to wait for the registry, connecting included",
	run:        runList,
}

func runList(ctx context.Context, e *env, c *command, args []string) error {
	o, pos, err := parse(e, c, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return usageErrorf("", "list needs a service name: the driver API lists one service (no backend call enumerates services); usage: discovery list [flags] URL service")
	}
	return show(ctx, e, c, o, pos[0], pos[1])
}

// show prints the instances of service once; inactive ones only for get.
func show(ctx context.Context, e *env, c *command, o *options, rawURL, service string) error {
	if err := core.ValidateService(service); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cl, err := e.open(ctx, o, rawURL, discovery.Config{})
	if err != nil {
		return err
	}
	defer cl.Close()
	var opts []core.WatchOption
	if c.name == "get" {
		opts = append(opts, core.IncludeInactive())
	}
	list, err := cl.Instances(ctx, service, opts...)
	if err != nil {
		return e.failed(ctx, o, fmt.Sprintf("%s %s from %s", c.name, service, core.Redact(rawURL)), err)
	}
	return e.printList(o, service, list)
}
