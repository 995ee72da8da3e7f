package core

import (
	"context"
	"sync"
)

// Discovery is the client side: the current instances of a service, and a
// stream of changes.
//
// Lists handed out are shared between subscribers and with the cache: treat
// them, and the Meta maps of their instances, as read-only.
type Discovery interface {
	// Instances returns the filtered instances of service: the watched list
	// when a Watch on it is running, otherwise one read of the store.
	Instances(ctx context.Context, service string, opts ...WatchOption) ([]Instance, error)
	// Watch streams full, filtered lists of service, sorted by address. The
	// first value is the current list. A slow reader is never blocked on and
	// never gets a stale list: unread values are replaced by the newest. While
	// the store is unreachable nothing is sent, so readers keep the last list;
	// an empty list read successfully is sent. The channel is closed when ctx
	// ends or the Discovery is closed. However many subscribers, one process
	// holds one store watch per service.
	Watch(ctx context.Context, service string, opts ...WatchOption) (<-chan []Instance, error)
	// WatchChanges is Watch for readers that keep state per instance (a
	// consistent-hash ring, per-instance statistics): each Update carries
	// the filtered list as a shared Snapshot and what changed since the
	// Update the reader received before, so a change costs what changed.
	// The first Update has Reset set. Coalescing, outages and filters are as
	// for Watch; an unread Update is replaced by one spanning both.
	WatchChanges(ctx context.Context, service string, opts ...WatchOption) (<-chan Update, error)
	// WatchStatus reports the shared watch of every watched service:
	// healthy or stale since when, the last error, the instance count, and
	// whether self-preservation holds back a loss.
	WatchStatus() []ServiceStatus
	// Services lists every service of the store, sorted, with the number of
	// instances Instances would return. Backends that cannot enumerate
	// services answer with an error wrapping ErrUnsupported that says why.
	Services(ctx context.Context, opts ...WatchOption) ([]ServiceCount, error)
	// Close ends every watch and closes every channel.
	Close() error
}

// NewDiscovery applies core's watch cache and filters on top of d.
// The caller keeps ownership of d and closes it after the Discovery.
func NewDiscovery(d Driver, o Options) (Discovery, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	dis := &discovery{d: d, o: o, services: map[string]*serviceWatch{}}
	dis.stopMetrics = o.instruments.observeInstances(dis.WatchStatus)
	return dis, nil
}

type discovery struct {
	d           Driver
	o           Options
	stopMetrics func()
	wg          sync.WaitGroup

	mu       sync.Mutex
	services map[string]*serviceWatch
	closed   bool
}

func (d *discovery) Instances(ctx context.Context, service string, opts ...WatchOption) ([]Instance, error) {
	if err := validateService(d.d, service); err != nil {
		return nil, err
	}
	list, err := d.rawList(ctx, service)
	if err != nil {
		return nil, err
	}
	return newFilterSet(d.o, opts).apply(list, d.o.Logger.With("service", service)), nil
}

func (d *discovery) Watch(ctx context.Context, service string, opts ...WatchOption) (<-chan []Instance, error) {
	sub, err := d.subscribe(ctx, service, opts, false)
	if err != nil {
		return nil, err
	}
	return sub.lists, nil
}

func (d *discovery) WatchChanges(ctx context.Context, service string, opts ...WatchOption) (<-chan Update, error) {
	sub, err := d.subscribe(ctx, service, opts, true)
	if err != nil {
		return nil, err
	}
	return sub.updates, nil
}

func (d *discovery) subscribe(ctx context.Context, service string, opts []WatchOption, changes bool) (*subscriber, error) {
	if err := validateService(d.d, service); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f := newFilterSet(d.o, opts)

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	sw := d.services[service]
	if sw == nil {
		sw = d.startWatch(service)
	}
	sub := newSubscriber(f, sw.log, changes)
	sw.subscribe(sub)
	sub.stop = context.AfterFunc(ctx, func() { d.unsubscribe(sw, sub) })
	return sub, nil
}

// startWatch must be called with d.mu held.
func (d *discovery) startWatch(service string) *serviceWatch {
	ctx, cancel := context.WithCancel(context.Background())
	sw := newServiceWatch(service, cancel, d.o)
	d.services[service] = sw
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.watchLoop(ctx, sw)
	}()
	return sw
}

// unsubscribe closes sub's channel; the last subscriber stops the store watch.
func (d *discovery) unsubscribe(sw *serviceWatch, sub *subscriber) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if sw.unsubscribe(sub) == 0 && d.services[sw.service] == sw {
		delete(d.services, sw.service)
		sw.cancel()
	}
}

func (d *discovery) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	services := d.services
	d.services = nil
	for _, sw := range services {
		sw.cancel()
		sw.closeAll()
	}
	d.mu.Unlock()
	d.wg.Wait()
	d.stopMetrics()
	return nil
}
