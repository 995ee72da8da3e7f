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

Without a service it prints every service of the registry with its number
of instances (counted as above). Backends whose store cannot enumerate
services (mdns) say so (exit 2); p2p and multi serve one list under every
name and show it as the service "*".`,
	jsonDoc:    "(an array of {service, addr, meta}; without a service, an array of {service, instances})",
	timeoutDoc: "how long to wait for the registry, connecting included",
	run:        runList,
}

func runList(ctx context.Context, e *env, c *command, args []string) error {
	o, pos, err := parse(e, c, args)
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		return showServices(ctx, e, o, pos[0])
	}
	return show(ctx, e, c, o, pos[0], pos[1])
}

// showServices prints every service with its instance count.
func showServices(ctx context.Context, e *env, o *options, rawURL string) error {
	return oneShot(ctx, e, o, rawURL, func(ctx context.Context, cl *discovery.Client) error {
		services, err := cl.Services(ctx)
		if err != nil {
			return e.failed(ctx, o, "list services of "+core.Redact(rawURL), err)
		}
		return e.printServices(o, services)
	})
}

// show prints the instances of service once; inactive ones only for get.
func show(ctx context.Context, e *env, c *command, o *options, rawURL, service string) error {
	if err := core.ValidateService(service); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	var opts []core.WatchOption
	if c.name == "get" {
		opts = append(opts, core.IncludeInactive())
	}
	return oneShot(ctx, e, o, rawURL, func(ctx context.Context, cl *discovery.Client) error {
		list, err := cl.Instances(ctx, service, opts...)
		if err != nil {
			return e.failed(ctx, o, fmt.Sprintf("%s %s from %s", c.name, service, core.Redact(rawURL)), err)
		}
		return e.printList(o, service, list)
	})
}

// oneShot opens the registry, runs f and closes, all within --timeout.
func oneShot(ctx context.Context, e *env, o *options, rawURL string, f func(context.Context, *discovery.Client) error) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cl, err := e.open(ctx, o, rawURL, discovery.Config{})
	if err != nil {
		return err
	}
	defer cl.Close()
	return f(ctx, cl)
}
