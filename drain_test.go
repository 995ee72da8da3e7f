package discovery_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	discovery "github.com/seedforge/discovery"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

// checkDrain runs the operator drain story against the registry at url:
// the server registers, an operator drains it from another client, the
// server writes its record again (new metadata, which is a Put) and it
// stays drained, the operator's client goes away and it stays drained, an
// undrain brings it back and it stays back.
func checkDrain(t *testing.T, url string, ttl time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	open := func() *discovery.Client {
		c, err := discovery.Open(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	server, watcher, operator := open(), open(), open()
	inst := core.Instance{Service: "Drained", Addr: "tcp@127.0.0.1:7001", Meta: core.Metadata{"weight": "1"}}
	if err := server.Register(ctx, inst); err != nil {
		t.Fatal(err)
	}
	// The state clients see: "" (absent), "active" or "inactive", and weight.
	seen := func() (string, string) {
		list, err := watcher.Instances(ctx, "Drained", core.IncludeInactive())
		if err != nil || len(list) == 0 {
			return "", ""
		}
		if list[0].Meta.Inactive() {
			return "inactive", list[0].Meta["weight"]
		}
		return "active", list[0].Meta["weight"]
	}
	expect := func(what, state, weight string) {
		t.Helper()
		coretest.Poll(t, 20*time.Second, what, func() error {
			if s, w := seen(); s != state || w != weight {
				return fmt.Errorf("clients see %q weight %q", s, w)
			}
			return nil
		})
	}
	expect("the registered instance", "active", "1")

	if err := operator.Drain(ctx, "Drained", "tcp@127.0.0.1:9"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("draining an unknown instance: %v, want ErrNotFound", err)
	}
	if err := operator.Drain(ctx, "Drained", inst.Addr); err != nil {
		t.Fatal(err)
	}
	expect("the drained instance", "inactive", "1")
	if list, _ := watcher.Instances(ctx, "Drained"); len(list) != 0 {
		t.Fatalf("clients still pick the drained instance: %v", list)
	}

	// The server writes its record again with new metadata: still drained.
	inst.Meta = core.Metadata{"weight": "5"}
	if err := server.Register(ctx, inst); err != nil {
		t.Fatal(err)
	}
	expect("the re-registered instance still drained", "inactive", "5")

	// The operator's client goes away, and its write with it once its TTL
	// ends (etcd: its lease): the server keeps the override.
	operator.Close()
	time.Sleep(ttl + ttl/2) // the property is about time passing: a record of the operator's would expire by now
	expect("the instance drained after the operator left", "inactive", "5")

	undrainer := open()
	if err := undrainer.Undrain(ctx, "Drained", inst.Addr); err != nil {
		t.Fatal(err)
	}
	expect("the undrained instance", "active", "5")
	inst.Meta = core.Metadata{"weight": "6"}
	if err := server.Register(ctx, inst); err != nil {
		t.Fatal(err)
	}
	expect("the undrained instance after its server wrote it again", "active", "6")
}

func TestDrainInprocess(t *testing.T) {
	checkDrain(t, "inprocess://drain-test?ttl=1s", time.Second)
}
