//go:build consul

package consul

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
	"github.com/seedforge/discovery/internal/leaktest"
)

func metaOf(n int) core.Metadata {
	m := core.Metadata{}
	for i := range n {
		m[fmt.Sprintf("k%02d", i)] = "v"
	}
	return m
}

// TestCatalogMetaLimits: metadata at Consul's limits round-trips through a
// real agent; metadata past them is refused by Put with a core.ErrInvalid
// error naming the key, before anything is sent, and the agent itself
// refuses the same registration, which shows the limits are Consul's.
func TestCatalogMetaLimits(t *testing.T) {
	leaktest.Check(t)
	a := sharedAgent(t)
	d := newDriver(t, a, ModeCatalog, Config{})
	raw := rawAPI(t, a, "")
	ctx := ctxFor(t, time.Minute)
	svc := svcName(t)
	addr := "tcp@127.0.0.1:35001"

	atLimit := metaOf(MaxMetaPairs - 1) // plus rpcx_addr: 64
	atLimit[strings.Repeat("k", MaxMetaKeyLength)] = strings.Repeat("v", MaxMetaValueLength)
	delete(atLimit, "k00")
	delete(atLimit, "k01")
	atLimit["rpcx-style_key-1"] = "a b&c=d/é" // any value bytes are fine
	must(t, d.Put(ctx, core.Instance{Service: svc, Addr: addr, Meta: atLimit}, time.Minute))
	l, err := d.List(ctx, svc)
	must(t, err)
	if len(l) != 1 || !maps.Equal(l[0].Meta, atLimit) {
		t.Fatalf("metadata at the limits did not round-trip: %v", coretest.Addrs(l))
	}

	over := []struct {
		name, key string
		meta      core.Metadata
	}{
		{"64 pairs", "", metaOf(MaxMetaPairs)},
		{"long key", strings.Repeat("k", MaxMetaKeyLength+1), core.Metadata{strings.Repeat("k", MaxMetaKeyLength+1): "v"}},
		{"long value", "big", core.Metadata{"big": strings.Repeat("v", MaxMetaValueLength+1)}},
		{"dot in key", "a.b", core.Metadata{"a.b": "v"}},
		{"non-ASCII key", "clé", core.Metadata{"clé": "v"}},
		{"reserved prefix", "consul-x", core.Metadata{"consul-x": "v"}},
		{"empty key", `""`, core.Metadata{"": "v"}},
		{"our address key", MetaAddr, core.Metadata{MetaAddr: "tcp@1.2.3.4:5"}},
	}
	for _, c := range over {
		t.Run(c.name, func(t *testing.T) {
			inst := core.Instance{Service: svc, Addr: "tcp@127.0.0.1:35002", Meta: c.meta}
			err := d.Put(ctx, inst, time.Minute)
			if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), c.key) {
				t.Fatalf("Put = %v; want ErrInvalid naming %q", err, c.key)
			}
			t.Logf("%v", err)
			if c.key == MetaAddr {
				return // ours, not Consul's
			}
			// The agent refuses it too, as Put would send it (with the address).
			m := maps.Clone(map[string]string(c.meta))
			m[MetaAddr] = inst.Addr
			err = raw.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: svc + "-raw", Name: svc + "-raw", Meta: m})
			if err == nil {
				raw.Agent().ServiceDeregister(svc + "-raw")
				t.Errorf("the agent accepted metadata Put refuses: %s", c.name)
			}
		})
	}
	// Nothing was registered by the refused Puts.
	l, err = d.List(ctx, svc)
	must(t, err)
	if got := coretest.Addrs(l); len(got) != 1 || got[0] != addr {
		t.Errorf("after refused Puts: %v", got)
	}
}

// TestServiceID: deterministic, readable, apart for different instances,
// usable in the agent's URL paths.
func TestServiceID(t *testing.T) {
	a := ServiceID("Arith", "tcp@10.0.0.1:8972")
	if a != ServiceID("Arith", "tcp@10.0.0.1:8972") || !strings.HasPrefix(a, "Arith-tcp@10.0.0.1:8972-") {
		t.Errorf("ServiceID = %q", a)
	}
	seen := map[string]bool{}
	for _, p := range [][2]string{
		{"Arith", "tcp@10.0.0.1:8972"}, {"Arith", "tcp@10.0.0.1:8973"}, {"Arith2", "tcp@10.0.0.1:8972"},
		{"a", "unix@/tmp/x.sock"}, {"a", "unix@_tmp_x.sock"}, {"a", "tcp@[::1]:80"}, {"a", "tcp@__::1_:80"},
		{"a-tcp@h", "tcp@k"}, {"a", "tcp@h-tcp@k"},
	} {
		id := ServiceID(p[0], p[1])
		if seen[id] {
			t.Errorf("ServiceID%v = %q collides", p, id)
		}
		seen[id] = true
		if strings.ContainsAny(id, "/?#% []") {
			t.Errorf("ServiceID%v = %q has characters unsafe in a URL path", p, id)
		}
	}
}
