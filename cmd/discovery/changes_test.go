package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/seedforge/discovery/core"
)

// watch --changes: joins, leaves and real metadata changes; a list in which
// only load moved (tps, calls…) prints nothing.
func TestDiffIgnoringLoad(t *testing.T) {
	in := func(addr string, kv ...string) core.Instance {
		m := core.Metadata{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return core.Instance{Service: "S", Addr: addr, Meta: m}
	}
	old := []core.Instance{in("tcp@a:1", "weight", "1", "tps", "3"), in("tcp@b:1"), in("tcp@c:1", "group", "x")}
	loadOnly := []core.Instance{in("tcp@a:1", "weight", "1", "tps", "9", "calls", "1.50", "connections_open", "2"), in("tcp@b:1"), in("tcp@c:1", "group", "x")}
	if d := diffIgnoringLoad(old, loadOnly); len(d) != 0 {
		t.Fatalf("load-only change reported: %+v", d)
	}
	cur := []core.Instance{in("tcp@a:1", "weight", "2", "tps", "9"), in("tcp@c:1", "group", "x"), in("tcp@d:1")}
	d := diffIgnoringLoad(old, cur)
	var got []string
	for _, c := range d {
		got = append(got, c.Event+" "+c.Addr)
	}
	if strings.Join(got, ", ") != "changed tcp@a:1, joined tcp@d:1, left tcp@b:1" {
		t.Fatalf("changes %v", got)
	}
	var out bytes.Buffer
	e := &env{stdout: &out}
	if err := e.printChanges(&options{}, "S", d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "S: changed tcp@a:1 meta=weight=2\n") || strings.Contains(out.String(), "tps") {
		t.Fatalf("printed:\n%s", out.String())
	}
}
