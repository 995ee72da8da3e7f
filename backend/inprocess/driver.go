package inprocess

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/seedforge/discovery/core"
)

func init() {
	core.RegisterBackend(core.Backend{Scheme: "inprocess", ProcessLocal: true, Open: open})
}

func open(t core.Target, _ *core.Params) (core.Driver, error) {
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
	l, _ := d.s.list(service)
	return l, nil
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
	seen    uint64
	started bool
	down    chan struct{} // closed when the store goes down
	stop    chan struct{}
	once    sync.Once
}

func (w *watcher) Next(ctx context.Context) ([]core.Instance, error) {
	for {
		s := w.d.s
		s.mu.Lock()
		if s.down != nil {
			s.mu.Unlock()
			return nil, s.down
		}
		sv := s.svc(w.service)
		if !w.started || sv.version != w.seen {
			list, v := s.list(w.service)
			w.seen, w.started = v, true
			s.mu.Unlock()
			return list, nil
		}
		changed := sv.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-w.down:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.stop:
			return nil, core.ErrClosed
		case <-w.d.closed:
			return nil, core.ErrClosed
		}
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
