package main

import "context"

var getCmd = &command{
	name:    "get",
	params:  []string{"URL", "service"},
	summary: "every instance of service once, inactive ones included (STATE inactive)",
	doc: `Reads the instances of service once and prints them, those whose state is
"inactive" included and shown as such in the STATE column (and in meta with
--json). The URL's group=/version= options filter the list.`,
	jsonDoc:    "(an array of {service, addr, meta})",
	timeoutDoc: "how long to wait for the registry, connecting included",
	run:        runGet,
}

func runGet(ctx context.Context, e *env, c *command, args []string) error {
	o, pos, err := parse(e, c, args)
	if err != nil {
		return err
	}
	return show(ctx, e, c, o, pos[0], pos[1])
}
