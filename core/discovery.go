package core

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// Discovery is the client side: the current instances of a service, and a
// stream of changes.
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
	return &discovery{d: d, o: o, services: map[string]*serviceWatch{}}, nil
}

type discovery struct {
	d  Driver
	o  Options
	wg sync.WaitGroup

	mu       sync.Mutex
	services map[string]*serviceWatch
	closed   bool
}

// serviceWatch is the one store watch of a service, shared by its subscribers.
type serviceWatch struct {
	service string
	cancel  context.CancelFunc

	mu    sync.Mutex // guards list, known, subs; held while delivering
	list  []Instance
	known bool
	subs  map[*subscriber]struct{}
}

type subscriber struct {
	ch     chan []Instance // capacity 1: holds the newest undelivered list
	filter *filterSet
	last   []Instance // last list delivered, to skip repeats
	sent   bool
	stop   func() bool // unregisters the context.AfterFunc
}

func (d *discovery) Instances(ctx context.Context, service string, opts ...WatchOption) ([]Instance, error) {
	if err := validateService(d.d, service); err != nil {
		return nil, err
	}
	f := newFilterSet(d.o, opts)
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	sw := d.services[service]
	d.mu.Unlock()
	if sw != nil {
		sw.mu.Lock()
		list, known := sw.list, sw.known
		sw.mu.Unlock()
		if known {
			return f.apply(list), nil
		}
	}
	list, err := d.d.List(ctx, service)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", service, err)
	}
	return f.apply(sortByAddr(list)), nil
}

func (d *discovery) Watch(ctx context.Context, service string, opts ...WatchOption) (<-chan []Instance, error) {
	if err := validateService(d.d, service); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sub := &subscriber{ch: make(chan []Instance, 1), filter: newFilterSet(d.o, opts)}

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	sw := d.services[service]
	if sw == nil {
		sw = d.startWatch(service)
	}
	sw.mu.Lock()
	sw.subs[sub] = struct{}{}
	if sw.known {
		sub.deliver(sw.list)
	}
	sw.mu.Unlock()
	sub.stop = context.AfterFunc(ctx, func() { d.unsubscribe(sw, sub) })
	return sub.ch, nil
}

// startWatch must be called with d.mu held.
func (d *discovery) startWatch(service string) *serviceWatch {
	ctx, cancel := context.WithCancel(context.Background())
	sw := &serviceWatch{service: service, cancel: cancel, subs: map[*subscriber]struct{}{}}
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
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if _, ok := sw.subs[sub]; !ok {
		return
	}
	delete(sw.subs, sub)
	close(sub.ch)
	if len(sw.subs) == 0 && d.services[sw.service] == sw {
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
		sw.mu.Lock()
		for sub := range sw.subs {
			if sub.stop != nil {
				sub.stop()
			}
			delete(sw.subs, sub)
			close(sub.ch)
		}
		sw.mu.Unlock()
	}
	d.mu.Unlock()
	d.wg.Wait()
	return nil
}

// watchLoop keeps one store watch open for as long as the service has
// subscribers. A broken watch is reopened with jittered backoff; the last
// list stays in place meanwhile, so an outage never empties it.
func (d *discovery) watchLoop(ctx context.Context, sw *serviceWatch) {
	log := d.o.Logger.With("service", sw.service)
	bo := Backoff{Base: d.o.BackoffBase, Cap: d.o.BackoffCap}
	for {
		opened := time.Now()
		w, err := d.d.Watch(ctx, sw.service)
		if err == nil {
			for {
				var list []Instance
				list, err = w.Next(ctx)
				if err != nil {
					break
				}
				sw.publish(sortByAddr(list))
			}
			w.Close()
			// A watch that stayed up long was healthy: start backoff afresh.
			// One that broke at once keeps growing it, so there is no hot loop.
			if time.Since(opened) > d.o.BackoffCap {
				bo.Reset()
			}
		}
		if ctx.Err() != nil {
			return
		}
		delay := bo.Next()
		sw.mu.Lock()
		kept := len(sw.list)
		sw.mu.Unlock()
		log.Warn("discovery: watch broke; keeping the last list", "instances_kept", kept, "retry_in", delay, "err", err)
		if !sleep(ctx, delay) {
			return
		}
	}
}

func (sw *serviceWatch) publish(list []Instance) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.list, sw.known = list, true
	for sub := range sw.subs {
		sub.deliver(list)
	}
}

// deliver filters list and hands it over without blocking: an unread older
// list in the channel is replaced by this one. Only the holder of the
// serviceWatch lock sends, so the channel can't fill between drain and send.
func (s *subscriber) deliver(list []Instance) {
	out := s.filter.apply(list)
	if s.sent && equalLists(s.last, out) {
		return
	}
	s.last, s.sent = out, true
	select {
	case s.ch <- out:
	default:
		select {
		case <-s.ch:
		default:
		}
		s.ch <- out
	}
}

func sortByAddr(list []Instance) []Instance {
	if list == nil {
		return []Instance{}
	}
	slices.SortFunc(list, func(a, b Instance) int { return cmp.Compare(a.Addr, b.Addr) })
	return list
}

func equalLists(a, b []Instance) bool {
	return slices.EqualFunc(a, b, func(x, y Instance) bool {
		return x.Service == y.Service && x.Addr == y.Addr && maps.Equal(x.Meta, y.Meta)
	})
}
