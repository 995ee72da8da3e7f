package main

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/seedforge/discovery/core"
)

// change is one line of watch --changes.
type change struct {
	Event string `json:"event"` // "joined", "left" or "changed"
	jsonInstance
}

// diffIgnoringLoad lists what changed from old to cur, by address: joins,
// leaves, and metadata changes other than the load keys.
func diffIgnoringLoad(old, cur []core.Instance) []change {
	before := map[string]core.Instance{}
	for _, in := range old {
		before[in.Addr] = in
	}
	var out []change
	for _, in := range cur {
		prev, ok := before[in.Addr]
		delete(before, in.Addr)
		switch {
		case !ok:
			out = append(out, change{"joined", toJSON([]core.Instance{in})[0]})
		case !maps.Equal(withoutLoad(prev.Meta), withoutLoad(in.Meta)):
			out = append(out, change{"changed", toJSON([]core.Instance{in})[0]})
		}
	}
	for _, addr := range slices.Sorted(maps.Keys(before)) {
		out = append(out, change{"left", toJSON([]core.Instance{before[addr]})[0]})
	}
	return out
}

func withoutLoad(m core.Metadata) core.Metadata {
	out := m.Clone()
	for _, k := range core.LoadKeys {
		delete(out, k)
	}
	return out
}

// printChanges prints one line per change (JSON objects with --json).
func (e *env) printChanges(o *options, service string, changes []change) error {
	for _, c := range changes {
		var err error
		if o.json {
			err = writeJSONLine(e.stdout, c)
		} else {
			meta := dash(withoutLoad(core.Metadata(c.Meta)).Encode())
			_, err = fmt.Fprintf(e.stdout, "%s %s: %s %s meta=%s\n", time.Now().Format(time.RFC3339), service, c.Event, c.Addr, meta)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
