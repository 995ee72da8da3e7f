// Package staticlist is the driver behind the p2p and multi backends: a list
// of server addresses that serves every service name, replaceable at run time.
// There is no registry, so Put, KeepAlive and Delete succeed and store nothing.
package staticlist

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/seedforge/discovery/backend/internal/memwatch"
	"github.com/seedforge/discovery/core"
)

// Server is one fixed address with its metadata.
type Server struct {
	Addr string
	Meta core.Metadata
}

// Driver is a core.Driver over a fixed, updatable list.
type Driver struct {
	mu      sync.Mutex
	servers []Server
	changes memwatch.Changes
	closed  chan struct{}
	once    sync.Once
}

// New validates the addresses and returns the driver.
func New(servers []Server) (*Driver, error) {
	if err := validate(servers); err != nil {
		return nil, err
	}
	return &Driver{servers: clone(servers), closed: make(chan struct{})}, nil
}

// ParseAddrs splits "tcp@h1:8972,tcp@h2:8972".
func ParseAddrs(s string) ([]Server, error) {
	var out []Server
	for a := range strings.SplitSeq(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, Server{Addr: a})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no server address; list them as tcp@host:port,tcp@host2:port", core.ErrInvalid)
	}
	return out, validate(out)
}

func validate(servers []Server) error {
	seen := map[string]bool{}
	for _, s := range servers {
		if err := core.ValidateAddr(s.Addr); err != nil {
			return err
		}
		if seen[s.Addr] {
			return fmt.Errorf("%w: address %s listed twice", core.ErrInvalid, s.Addr)
		}
		seen[s.Addr] = true
	}
	return nil
}

func clone(servers []Server) []Server {
	out := make([]Server, len(servers))
	for i, s := range servers {
		out[i] = Server{Addr: s.Addr, Meta: s.Meta.Clone()}
	}
	return out
}

// Update replaces the list and wakes every watch. An empty list is allowed
// and is delivered to watchers as such.
func (d *Driver) Update(servers []Server) error {
	if err := validate(servers); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.servers = clone(servers)
	d.changes.Bump()
	return nil
}

// Put accepts and ignores a registration: the list is the source of truth.
func (d *Driver) Put(context.Context, core.Instance, time.Duration) error { return nil }

// KeepAlive accepts and ignores a refresh.
func (d *Driver) KeepAlive(context.Context, core.Instance, time.Duration) error { return nil }

// Delete accepts and ignores a deregistration.
func (d *Driver) Delete(context.Context, core.Instance) error { return nil }

// List returns every server as an instance of service.
func (d *Driver) List(_ context.Context, service string) ([]core.Instance, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.listLocked(service), nil
}

func (d *Driver) listLocked(service string) []core.Instance {
	out := make([]core.Instance, len(d.servers))
	for i, s := range d.servers {
		out[i] = core.Instance{Service: service, Addr: s.Addr, Meta: s.Meta}
	}
	return out
}

// Watch returns a watcher that yields the list now and after each Update.
func (d *Driver) Watch(_ context.Context, service string) (core.Watcher, error) {
	return &watcher{d: d, service: service, stop: make(chan struct{})}, nil
}

// Close ends all watches.
func (d *Driver) Close() error {
	d.once.Do(func() { close(d.closed) })
	return nil
}

type watcher struct {
	d       *Driver
	service string
	cursor  memwatch.Cursor
	stop    chan struct{}
	once    sync.Once
}

func (w *watcher) Next(ctx context.Context) ([]core.Instance, error) {
	return w.cursor.Next(ctx, memwatch.Source{
		Lock:    &w.d.mu,
		Changes: func() (*memwatch.Changes, error) { return &w.d.changes, nil },
		List:    func() []core.Instance { return w.d.listLocked(w.service) },
		Stop:    w.stop, Closed: w.d.closed,
	})
}

func (w *watcher) Close() error {
	w.once.Do(func() { close(w.stop) })
	return nil
}

// Services reports core.AnyService: the list is served under every name, so
// there are no service names to enumerate.
func (d *Driver) Services(context.Context) ([]string, error) {
	return []string{core.AnyService}, nil
}
