package coretest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seedforge/discovery/core"
)

// testServices checks Discovery.Services: every service with its count of
// the instances clients are given, services without records left out. A
// backend that cannot enumerate must say so with ErrUnsupported and a why.
func testServices(t *testing.T, h Harness) {
	c := h.newClient(t)
	ctx := ctxFor(t, 2*h.settle()+10*time.Second)
	if h.TTL == 0 {
		// A fixed list answers under "*"; a store that decides membership
		// itself (Kubernetes) names its services.
		name := core.AnyService
		if _, named := c.d.(core.ServiceLister); named && h.Update != nil && h.UpdateAddr != nil {
			name = serviceOf(h.Static)
		}
		want := map[string]int{name: len(activeAddrs(h.Static))}
		Poll(t, h.settle(), "the static list under *", servicesInclude(ctx, c.dis, want, nil))
		return
	}
	if _, err := c.dis.Services(ctx); errors.Is(err, core.ErrUnsupported) {
		if len(err.Error()) <= len(core.ErrUnsupported.Error())+2 {
			t.Fatalf("Services: %q does not say why", err)
		}
		t.Skipf("the backend cannot enumerate services: %v", err)
	}
	a, b := h.service(t)+"-a", h.service(t)+"-b"
	must(t, c.reg.Register(ctx, inst(a, 1)))
	must(t, c.reg.Register(ctx, inst(a, 2)))
	must(t, c.reg.Register(ctx, inst(b, 1)))
	must(t, c.reg.Register(ctx, inst(b, 2, "state", "inactive")))
	Poll(t, h.settle(), "both services counted", servicesInclude(ctx, c.dis, map[string]int{a: 2, b: 1}, nil))

	// Once a service has no record left it is not listed, even where the
	// store keeps an empty directory (ZooKeeper).
	must(t, c.reg.Deregister(ctx, inst(b, 1)))
	must(t, c.reg.Deregister(ctx, inst(b, 2)))
	Poll(t, h.settle(), "the emptied service gone", servicesInclude(ctx, c.dis, map[string]int{a: 2}, []string{b}))
}

// servicesInclude accepts a Services answer that holds want (other tests'
// services may be there too) and none of gone.
func servicesInclude(ctx context.Context, dis core.Discovery, want map[string]int, gone []string) func() error {
	return func() error {
		list, err := dis.Services(ctx)
		if err != nil {
			return err
		}
		got := map[string]int{}
		for _, s := range list {
			got[s.Service] = s.Instances
		}
		if !slices.IsSortedFunc(list, func(x, y core.ServiceCount) int { return strings.Compare(x.Service, y.Service) }) {
			return fmt.Errorf("not sorted: %v", list)
		}
		for name, n := range want {
			if m, ok := got[name]; !ok || m != n {
				return fmt.Errorf("services %v, want %v among them", got, want)
			}
		}
		for _, name := range gone {
			if _, ok := got[name]; ok {
				return fmt.Errorf("services %v still hold %s", slices.Collect(maps.Keys(got)), name)
			}
		}
		return nil
	}
}
