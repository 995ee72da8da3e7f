package inprocess

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/seedforge/discovery/backend/internal/memwatch"
	"github.com/seedforge/discovery/core"
)

func init() {
	core.RegisterBackend(core.Backend{Scheme: "inprocess", ProcessLocal: true, Open: open})
}

func open(_ context.Context, t core.Target, _ *core.Params) (core.Driver, error) {
	if len(t.Hosts) != 1 || t.User != nil || (t.Path != "" && t.Path != "/") {
		return nil, fmt.Errorf("%w: an inprocess URL names one store and nothing else: inprocess://NAME", core.ErrInvalid)
	}
	return Open(t.Hosts[0]), nil
}

// Open returns a driver on the store called name.
func Open(name string) core.Driver {
	return &driver{s: Lookup(name), closed: make(chan struct{})}
}

type driver struct {
	s         *Store
	closeOnce sync.Once
	closed    chan struct{}
}

func (d *driver) Put(_ context.Context, inst core.Instance, ttl time.Duration) error {
	return d.s.put(inst, ttl)
}

func (d *driver) KeepAlive(_ context.Context, inst core.Instance, ttl time.Duration) error {
	return d.s.keepAlive(inst, ttl)
}

func (d *driver) Delete(_ context.Context, inst core.Instance) error {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.s.down != nil {
		return d.s.down
	}
	d.s.remove(inst.Service, inst.Addr)
	return nil
}

func (d *driver) List(_ context.Context, service string) ([]core.Instance, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.s.down != nil {
		return nil, d.s.down
	}
	return d.s.list(service), nil
}

// Services names the services that hold at least one record.
func (d *driver) Services(context.Context) ([]string, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.s.down != nil {
		return nil, d.s.down
	}
	var out []string
	for name, sv := range d.s.services {
		if len(sv.records) > 0 {
			out = append(out, name)
		}
	}
	return out, nil
}

func (d *driver) Watch(_ context.Context, service string) (core.Watcher, error) {
	d.s.mu.Lock()
	defer d.s.mu.Unlock()
	if d.s.down != nil {
		return nil, d.s.down
	}
	d.s.svc(service).watches++
	return &watcher{d: d, service: service, stop: make(chan struct{}), down: d.s.downCh}, nil
}

func (d *driver) Close() error {
	d.closeOnce.Do(func() { close(d.closed) })
	return nil
}

type watcher struct {
	d       *driver
	service string
	cursor  memwatch.Cursor
	down    chan struct{} // closed when the store goes down
	stop    chan struct{}
	once    sync.Once
}

var _ core.DeltaWatcher = (*watcher)(nil)

// Next returns the full list; core calls it once per watcher, then
// NextChange.
func (w *watcher) Next(ctx context.Context) ([]core.Instance, error) {
	return w.cursor.Next(ctx, w.source())
}

// NextChange returns what changed since the last Next or NextChange.
func (w *watcher) NextChange(ctx context.Context) (core.Change, error) {
	return w.cursor.NextChange(ctx, w.source())
}

func (w *watcher) source() memwatch.Source {
	s := w.d.s
	return memwatch.Source{
		Lock: &s.mu,
		Changes: func() (*memwatch.Changes, error) {
			if s.down != nil {
				return nil, s.down
			}
			return &s.svc(w.service).changes, nil
		},
		List: func() []core.Instance { return s.list(w.service) },
		Wake: w.down, Stop: w.stop, Closed: w.d.closed,
	}
}

func (w *watcher) Close() error {
	w.once.Do(func() {
		close(w.stop)
		w.d.s.mu.Lock()
		w.d.s.svc(w.service).watches--
		w.d.s.mu.Unlock()
	})
	return nil
}
