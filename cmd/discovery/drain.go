package main

import (
	"context"
	"fmt"

	"github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
)

var drainCmd = &command{
	name:    "drain",
	params:  []string{"URL", "service", "addr"},
	summary: "take an instance out of rotation from outside its server, until undrain",
	doc: `Marks the record of service at addr (network@host:port) inactive, with
drain=operator: clients stop picking it at once, and its server keeps it
drained across its own refreshes and re-registrations until 'discovery
undrain'. The URL's ttl= should be the registry's: the mark lives that long
before the server adopts it (within one refresh interval).`,
	timeoutDoc: "how long to wait for the registry, connecting included",
	run:        runDrain,
}

var undrainCmd = &command{
	name:       "undrain",
	params:     []string{"URL", "service", "addr"},
	summary:    "end an operator's drain: the instance is picked again",
	doc:        `Removes the operator's drain mark (state=inactive, drain=operator) from the record of service at addr.`,
	timeoutDoc: "how long to wait for the registry, connecting included",
	run:        runDrain,
}

func runDrain(ctx context.Context, e *env, c *command, args []string) error {
	o, pos, err := parse(e, c, args)
	if err != nil {
		return err
	}
	inst := core.Instance{Service: pos[1], Addr: pos[2]}
	if err := inst.Validate(); err != nil {
		return fmt.Errorf("%s: %w", c.name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	cl, err := e.open(ctx, o, pos[0], discovery.Config{})
	if err != nil {
		return err
	}
	defer cl.Close()
	set := cl.Drain
	if c.name == "undrain" {
		set = cl.Undrain
	}
	if err := set(ctx, inst.Service, inst.Addr); err != nil {
		return e.failed(ctx, o, fmt.Sprintf("%s %s %s in %s", c.name, inst.Service, inst.Addr, core.Redact(pos[0])), err)
	}
	fmt.Fprintf(e.stdout, "%sed %s %s\n", c.name, inst.Service, inst.Addr)
	return nil
}
