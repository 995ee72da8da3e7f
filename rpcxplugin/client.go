package rpcxplugin

import (
	"context"
	"fmt"
	"sync"

	"github.com/smallnest/rpcx/client"

	"github.com/seedforge/discovery/core"
)

// Discovery is an rpcx client.ServiceDiscovery for one service path.
type Discovery struct {
	dis     core.Discovery
	service string
	opts    []core.WatchOption

	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	pairs    []*client.KVPair // filtered by the rpcx filter
	all      []*client.KVPair
	byAddr   map[string]*client.KVPair // encoded once per instance version
	filter   client.ServiceDiscoveryFilter
	watchers map[chan []*client.KVPair]struct{}
	closed   bool
}

var _ client.ServiceDiscovery = (*Discovery)(nil)

// NewDiscovery watches service through dis and waits, bounded by ctx, for
// the first list, so that an XClient built on it starts with the servers.
// opts are core filters (group, version…) applied before rpcx sees the list.
func NewDiscovery(ctx context.Context, dis core.Discovery, service string, opts ...core.WatchOption) (*Discovery, error) {
	wctx, cancel := context.WithCancel(context.Background())
	ch, err := dis.WatchChanges(wctx, service, opts...)
	if err != nil {
		cancel()
		return nil, err
	}
	d := &Discovery{dis: dis, service: service, opts: opts, cancel: cancel, done: make(chan struct{}), watchers: map[chan []*client.KVPair]struct{}{}}
	select {
	case u, ok := <-ch:
		if !ok {
			cancel()
			return nil, fmt.Errorf("rpcxplugin: watch of %s closed: %w", service, core.ErrClosed)
		}
		d.set(u)
	case <-ctx.Done():
		cancel()
		for range ch { // wait for the watch to end
		}
		return nil, fmt.Errorf("rpcxplugin: no list of %s yet: %w", service, ctx.Err())
	}
	go d.run(ch)
	return d, nil
}

func (d *Discovery) run(ch <-chan core.Update) {
	defer close(d.done)
	for u := range ch {
		d.set(u)
	}
}

func toPair(in core.Instance) *client.KVPair {
	return &client.KVPair{Key: in.Addr, Value: in.Meta.Encode()}
}

// set takes one change: only the instances it names are encoded again;
// rpcx still gets the whole list, which is what its API takes.
func (d *Discovery) set(u core.Update) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if u.Reset || d.byAddr == nil {
		d.byAddr = make(map[string]*client.KVPair, u.List.Len())
		for in := range u.List.All() {
			d.byAddr[in.Addr] = toPair(in)
		}
	} else {
		for _, in := range u.Removed {
			delete(d.byAddr, in.Addr)
		}
		for _, in := range u.Upserted {
			d.byAddr[in.Addr] = toPair(in)
		}
	}
	d.all = make([]*client.KVPair, 0, u.List.Len())
	for in := range u.List.All() {
		d.all = append(d.all, d.byAddr[in.Addr])
	}
	d.applyFilterLocked()
	for ch := range d.watchers {
		sendNewest(ch, d.pairs)
	}
}

func (d *Discovery) applyFilterLocked() {
	if d.filter == nil {
		d.pairs = d.all
		return
	}
	d.pairs = make([]*client.KVPair, 0, len(d.all))
	for _, p := range d.all {
		if d.filter(p) {
			d.pairs = append(d.pairs, p)
		}
	}
}

// sendNewest never blocks: older unread lists are dropped for the newest.
// Only set sends, under d.mu, so the channel cannot fill in between.
func sendNewest(ch chan []*client.KVPair, pairs []*client.KVPair) {
	for {
		select {
		case ch <- pairs:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}

// GetServices returns the current servers.
func (d *Discovery) GetServices() []*client.KVPair {
	d.mu.Lock()
	defer d.mu.Unlock()
	return clonePairs(d.pairs)
}

func clonePairs(in []*client.KVPair) []*client.KVPair {
	out := make([]*client.KVPair, len(in))
	for i, p := range in {
		c := *p
		out[i] = &c
	}
	return out
}

// WatchService returns a channel that receives every new list. It is closed
// by RemoveWatcher or Close.
func (d *Discovery) WatchService() chan []*client.KVPair {
	ch := make(chan []*client.KVPair, 1)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		close(ch)
		return ch
	}
	d.watchers[ch] = struct{}{}
	return ch
}

// RemoveWatcher stops and closes ch, which also ends the XClient goroutine
// ranging over it.
func (d *Discovery) RemoveWatcher(ch chan []*client.KVPair) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.watchers[ch]; ok {
		delete(d.watchers, ch)
		close(ch)
	}
}

// Clone returns a Discovery of another service over the same core.Discovery,
// so that all XClients of a process share one registry watch per service.
func (d *Discovery) Clone(servicePath string) (client.ServiceDiscovery, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cloneTimeout)
	defer cancel()
	return NewDiscovery(ctx, d.dis, servicePath, d.opts...)
}

// SetFilter sets rpcx's filter; it applies to the current list at once.
func (d *Discovery) SetFilter(f client.ServiceDiscoveryFilter) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.filter = f
	d.applyFilterLocked()
}

// Close ends the watch and closes every watcher channel. The core.Discovery
// stays open: it belongs to the caller.
func (d *Discovery) Close() {
	d.cancel()
	<-d.done
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.closed = true
	for ch := range d.watchers {
		delete(d.watchers, ch)
		close(ch)
	}
}
