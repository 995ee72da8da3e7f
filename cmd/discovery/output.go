package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/seedforge/discovery/core"
)

// jsonInstance is the JSON form of an instance. The field names are stable:
// scripts rely on them.
type jsonInstance struct {
	Service string            `json:"service"`
	Addr    string            `json:"addr"`
	Meta    map[string]string `json:"meta"` // {} when empty, never null
}

func toJSON(list []core.Instance) []jsonInstance {
	out := make([]jsonInstance, len(list))
	for i, in := range list {
		meta := map[string]string(in.Meta)
		if meta == nil {
			meta = map[string]string{}
		}
		out[i] = jsonInstance{Service: in.Service, Addr: in.Addr, Meta: meta}
	}
	return out
}

// writeJSONLine writes v as one line of JSON (NDJSON when repeated).
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// printList prints the instances of service once: a JSON array, or a table.
func (e *env) printList(o *options, service string, list []core.Instance) error {
	if o.json {
		return writeJSONLine(e.stdout, toJSON(list))
	}
	if len(list) == 0 {
		_, err := fmt.Fprintf(e.stdout, "no instances of %s\n", service)
		return err
	}
	return writeTable(e.stdout, list)
}

// printServices prints every service with its instance count: a JSON array
// of {service, instances}, or a table.
func (e *env) printServices(o *options, services []core.ServiceCount) error {
	if o.json {
		if services == nil {
			services = []core.ServiceCount{}
		}
		return writeJSONLine(e.stdout, services)
	}
	if len(services) == 0 {
		_, err := fmt.Fprintln(e.stdout, "no services")
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tINSTANCES")
	for _, s := range services {
		fmt.Fprintf(tw, "%s\t%d\n", s.Service, s.Instances)
	}
	return tw.Flush()
}

// printUpdate prints one list of a watch: a JSON array per line, or a
// timestamped table.
func (e *env) printUpdate(o *options, service string, list []core.Instance) error {
	if o.json {
		return writeJSONLine(e.stdout, toJSON(list))
	}
	if _, err := fmt.Fprintf(e.stdout, "%s %s: %d instance(s)\n", time.Now().Format(time.RFC3339), service, len(list)); err != nil {
		return err
	}
	if len(list) > 0 {
		if err := writeTable(e.stdout, list); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(e.stdout)
	return err
}

// writeTable prints aligned columns; META holds the keys the other columns
// do not show, in rpcx's wire form (a URL query, keys sorted).
func writeTable(w io.Writer, list []core.Instance) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ADDRESS\tWEIGHT\tGROUP\tSTATE\tTPS\tMETA")
	for _, in := range list {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", in.Addr, in.Meta.Weight(),
			dash(in.Meta[core.MetaGroup]), state(in.Meta), tps(in.Meta), dash(rest(in.Meta).Encode()))
	}
	return tw.Flush()
}

func state(m core.Metadata) string {
	if s := m[core.MetaState]; s != "" {
		return s // "inactive", or whatever the server wrote
	}
	return "active"
}

func tps(m core.Metadata) string {
	if v, ok := m.TPS(); ok {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return "-"
}

// rest is m without the keys that have a column of their own.
func rest(m core.Metadata) core.Metadata {
	out := core.Metadata{}
	for k, v := range m {
		switch k {
		case core.MetaWeight, core.MetaGroup, core.MetaState, core.MetaTPS:
		default:
			out[k] = v
		}
	}
	return out
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// registerEvent is what register prints when it registered and when it
// deregistered.
type registerEvent struct {
	Event string `json:"event"` // "registered" or "deregistered"
	jsonInstance
	TTL string `json:"ttl"`
}

func (e *env) printEvent(o *options, event string, in core.Instance, registry string, ttl time.Duration) error {
	if o.json {
		return writeJSONLine(e.stdout, registerEvent{Event: event, jsonInstance: toJSON([]core.Instance{in})[0], TTL: ttl.String()})
	}
	var err error
	switch event {
	case "registered":
		_, err = fmt.Fprintf(e.stdout, "registered %s %s meta=%s ttl=%v in %s; interrupt (Ctrl-C) to deregister\n",
			in.Service, in.Addr, dash(in.Meta.Encode()), ttl, registry)
	case "pending":
		_, err = fmt.Fprintf(e.stdout, "pending %s %s in %s: registry not answering, retrying until written (interrupt to give up)\n",
			in.Service, in.Addr, registry)
	default:
		_, err = fmt.Fprintf(e.stdout, "%s %s %s\n", event, in.Service, in.Addr)
	}
	return err
}
