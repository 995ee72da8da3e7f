package gateway

import (
	"context"
	"net/http"
	"sync"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/selector"
)

// route is one service the gateway follows: a selector fed by the shared
// watch of the service, kept while the gateway lives.
type route struct {
	name   string
	sel    selector.Selector
	ready  chan struct{} // closed when the first list arrived
	done   chan struct{} // closed when the watch loop ended
	cancel context.CancelFunc

	mu       sync.Mutex
	all      []core.Instance // including inactive ones
	seen     bool            // some list had an instance
	active   int
	grpcDesc protoreflect.ServiceDescriptor // cached until the addresses change
}

// route returns the route of service, starting its watch on first use. A
// service of which no instance, active or not, was ever seen is unknown:
// its watch is dropped and the error is a 404, so that requests for made-up
// names hold nothing. Lookups of names the gateway does not follow yet are
// rate limited (lookupsPerSecond), so that clients sending made-up names
// cannot turn the gateway into a flood of registry requests.
func (g *Gateway) route(ctx context.Context, service string) (*route, error) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, &statusError{http.StatusServiceUnavailable, "gateway is closing", nil}
	}
	r, ok := g.routes[service]
	if !ok {
		if _, configured := g.cfg.Services[service]; !configured && !g.lookups.Allow() {
			g.mu.Unlock()
			return nil, &statusError{http.StatusTooManyRequests, "too many lookups of new service names at once; retry later", nil}
		}
		var err error
		if r, err = g.startRoute(service); err != nil {
			g.mu.Unlock()
			return nil, &statusError{http.StatusNotFound, "unknown service " + quote(service), err}
		}
		g.routes[service] = r
	}
	g.mu.Unlock()

	select {
	case <-r.ready:
	case <-ctx.Done():
		return nil, &statusError{http.StatusGatewayTimeout, "no list of " + quote(service) + " from the registry within the deadline", ctx.Err()}
	}
	r.mu.Lock()
	seen, active := r.seen, r.active
	r.mu.Unlock()
	_, configured := g.cfg.Services[service]
	switch {
	case !seen && !configured:
		g.dropRoute(r)
		return nil, &statusError{http.StatusNotFound, "unknown service " + quote(service) + ": no instance registered", nil}
	case active == 0:
		return nil, &statusError{http.StatusServiceUnavailable, "service " + quote(service) + " has no active instance", selector.ErrNoInstances}
	}
	return r, nil
}

// startRoute opens the watch of service; g.mu is held.
func (g *Gateway) startRoute(service string) (*route, error) {
	svc := g.service(service)
	sel, err := selector.New(svc.Selector)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(g.ctx)
	// Inactive instances are watched too, so that a service whose instances
	// are all drained answers 503 rather than 404; core's filter still
	// decides what inactive means (Meta.Inactive).
	ch, err := g.cfg.Discovery.Watch(ctx, service, core.IncludeInactive())
	if err != nil {
		cancel()
		return nil, err
	}
	r := &route{name: service, sel: sel, ready: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	go r.follow(ch, g)
	return r, nil
}

// follow feeds the selector until the watch ends.
func (r *route) follow(ch <-chan []core.Instance, g *Gateway) {
	defer close(r.done)
	first := true
	for list := range ch {
		active := make([]core.Instance, 0, len(list))
		for _, in := range list {
			if !in.Meta.Inactive() {
				active = append(active, in)
			}
		}
		r.sel.Update(active)
		r.mu.Lock()
		old := r.all
		r.all = list
		r.active = len(active)
		r.seen = r.seen || len(list) > 0
		if !sameAddrs(old, list) {
			r.grpcDesc = nil // a new server may publish a new version of the service
		}
		r.mu.Unlock()
		g.forgetLeft(r.name, old, list)
		if first {
			close(r.ready)
			first = false
		}
	}
	if first {
		close(r.ready)
	}
}

// dropRoute ends the watch of r if it is still the route of its service.
func (g *Gateway) dropRoute(r *route) {
	g.mu.Lock()
	if g.routes[r.name] == r {
		delete(g.routes, r.name)
	}
	g.mu.Unlock()
	r.cancel()
}

// instances returns the current list of r, inactive instances included.
func (r *route) instances() []core.Instance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all
}

// forgetLeft closes the connections to the addresses that left service's
// list, unless another followed service still lists them (an rpcx server
// serves several services on one address).
func (g *Gateway) forgetLeft(service string, old, now []core.Instance) {
	if len(old) == 0 {
		return
	}
	keep := map[string]bool{}
	for _, in := range now {
		keep[in.Addr] = true
	}
	var gone []string
	for _, in := range old {
		if !keep[in.Addr] {
			gone = append(gone, in.Addr)
		}
	}
	if len(gone) == 0 {
		return
	}
	g.mu.Lock()
	routes := make([]*route, 0, len(g.routes))
	for name, r := range g.routes {
		if name != service {
			routes = append(routes, r)
		}
	}
	g.mu.Unlock()
	for _, r := range routes {
		for _, in := range r.instances() {
			keep[in.Addr] = true
		}
	}
	for _, a := range gone {
		if !keep[a] {
			g.rpcx.forget(a)
			g.grpc.forget(a)
		}
	}
}

// sameAddrs reports whether a and b list the same addresses (lists from
// core are sorted).
func sameAddrs(a, b []core.Instance) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Addr != b[i].Addr {
			return false
		}
	}
	return true
}
