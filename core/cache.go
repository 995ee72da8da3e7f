package core

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
)

// serviceWatch is the one store watch of a service, shared by its
// subscribers. It keeps the service's list as an immutable Snapshot and
// moves it by what changed: a DeltaWatcher's Change as is, a full list by
// its difference with the snapshot.
type serviceWatch struct {
	service string
	cancel  context.CancelFunc
	log     *slog.Logger
	secrets []string // hidden from status errors (Options.Secrets)
	ins     *instruments
	attrs   metric.MeasurementOption // the service's metric attributes

	mu      sync.Mutex // guards everything below; held while delivering
	store   *Snapshot  // the newest list read from the store; nil until the first
	base    *Snapshot  // what subscribers were given (store, unless held back)
	views   map[filterKey]*view
	private map[*subscriber]struct{} // subscribers with user filters
	subs    int
	pres    preservation
	health  watchHealth
	valid   listChecker // used by the watch loop only
}

func newServiceWatch(service string, cancel context.CancelFunc, o Options) *serviceWatch {
	return &serviceWatch{
		service: service,
		cancel:  cancel,
		log:     o.Logger.With("service", service),
		secrets: o.Secrets,
		ins:     o.instruments,
		attrs:   serviceAttrs(service),
		views:   map[filterKey]*view{},
		private: map[*subscriber]struct{}{},
		pres:    preservation{fraction: o.SelfPreservation, hold: o.SelfPreservationHold},
		valid:   listChecker{log: o.Logger.With("service", service)},
		health:  watchHealth{state: WatchStarting, since: time.Now()},
	}
}

// current returns the list subscribers have, and whether one was read yet.
func (sw *serviceWatch) current() (*Snapshot, bool) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.base, sw.base != nil
}

func (sw *serviceWatch) subscribe(sub *subscriber) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.subs++
	if sub.own != nil {
		sw.private[sub] = struct{}{}
		if sw.base != nil {
			sub.inbox.post(sw.base, nil, true)
		}
		return
	}
	key, _ := sub.filter.viewKey()
	v := sw.views[key]
	if v == nil {
		v = &view{filter: sub.filter, subs: map[*subscriber]struct{}{}}
		if sw.base != nil {
			v.advance(sw.base, nil, true, sw.log)
		}
		sw.views[key] = v
	}
	v.subs[sub] = struct{}{}
	if v.snap != nil {
		sub.deliver(Update{List: v.snap, Reset: true})
	}
}

// unsubscribe closes sub and returns how many subscribers remain.
func (sw *serviceWatch) unsubscribe(sub *subscriber) int {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.remove(sub) {
		sub.close()
	}
	return sw.subs
}

// remove forgets sub and reports whether it was there. sw.mu must be held.
func (sw *serviceWatch) remove(sub *subscriber) bool {
	if sub.own != nil {
		if _, ok := sw.private[sub]; !ok {
			return false
		}
		delete(sw.private, sub)
		sw.subs--
		return true
	}
	key, _ := sub.filter.viewKey()
	v := sw.views[key]
	if v == nil {
		return false
	}
	if _, ok := v.subs[sub]; !ok {
		return false
	}
	delete(v.subs, sub)
	if len(v.subs) == 0 {
		delete(sw.views, key)
	}
	sw.subs--
	return true
}

// closeAll closes every subscriber (Discovery.Close).
func (sw *serviceWatch) closeAll() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	var all []*subscriber
	for sub := range sw.private {
		all = append(all, sub)
	}
	for _, v := range sw.views {
		for sub := range v.subs {
			all = append(all, sub)
		}
	}
	for _, sub := range all {
		if sub.stop != nil {
			sub.stop()
		}
		sw.remove(sub)
		sub.close()
	}
	sw.pres.stop()
}

// watchLoop keeps one store watch open for as long as the service has
// subscribers. A broken watch is reopened with jittered backoff; the last
// list stays in place meanwhile, so an outage never empties it.
func (d *discovery) watchLoop(ctx context.Context, sw *serviceWatch) {
	defer sw.stopHold()
	bo := Backoff{Base: d.o.BackoffBase, Cap: d.o.BackoffCap}
	var delay time.Duration // the wait before the current attempt
	for {
		opened := time.Now()
		delivered := false
		w, err := d.d.Watch(ctx, sw.service)
		if err == nil {
			var list []Instance
			if list, err = w.Next(ctx); err == nil {
				delivered = true
				sw.markHealthy()
				sw.takeList(list)
				err = sw.follow(ctx, w)
			}
			w.Close()
		}
		// A watch that delivered and then outlived the wait before it was
		// healthy: the next one starts from the base delay, however short its
		// life (a proxy that cuts streams every 25 s never pushes the delay to
		// its cap). One that broke at once keeps growing it: no hot loop.
		if delivered && time.Since(opened) >= delay {
			bo.Reset()
		}
		if ctx.Err() != nil {
			return
		}
		sw.markStale(err)
		delay = bo.Next()
		base, _ := sw.current()
		sw.log.Warn("discovery: watch broke; keeping the last list", "instances_kept", base.Len(), "retry_in", delay, "err", err)
		sw.ins.watchReopened(sw.service)
		if !Sleep(ctx, delay) {
			return
		}
	}
}

// follow applies what w reports after its first list until it fails:
// changes from a DeltaWatcher, full lists from any other.
func (sw *serviceWatch) follow(ctx context.Context, w Watcher) error {
	if dw, ok := w.(DeltaWatcher); ok {
		for {
			c, err := dw.NextChange(ctx)
			if err != nil {
				return err
			}
			sw.takeChange(c)
		}
	}
	for {
		list, err := w.Next(ctx)
		if err != nil {
			return err
		}
		sw.takeList(list)
	}
}

// takeList moves the snapshot to a full list read from the store.
func (sw *serviceWatch) takeList(list []Instance) {
	list = uniqueByAddr(sw.valid.check(sw.service, list))
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.store == nil {
		sw.advance(snapshotOf(list), nil, true)
		return
	}
	puts, dels := diffSorted(sw.store, list)
	next := sw.store.with(puts, dels)
	sw.advance(next, changedAddrs(puts, dels), false)
}

// takeChange moves the snapshot by a DeltaWatcher's change, ignoring what
// does not change anything.
func (sw *serviceWatch) takeChange(c Change) {
	c = sw.valid.checkChange(sw.service, c)
	sw.mu.Lock()
	defer sw.mu.Unlock()
	var puts []Instance
	var dels []string
	for _, in := range c.Put {
		if old, ok := sw.store.Get(in.Addr); !ok || !sameInstance(old, in) {
			puts = append(puts, in)
		}
	}
	for _, a := range c.Deleted {
		if _, ok := sw.store.Get(a); ok {
			dels = append(dels, a)
		}
	}
	if len(puts) == 0 && len(dels) == 0 {
		return
	}
	sw.advance(sw.store.with(puts, dels), changedAddrs(puts, dels), false)
}

// advance records next as the store's list, changed being the addresses
// that differ from the store's previous list; unless self-preservation holds
// it back, it becomes the subscribers' list. sw.mu must be held.
func (sw *serviceWatch) advance(next *Snapshot, changed []string, reset bool) {
	held := sw.pres.holding
	sw.store = next
	if !sw.pres.admit(sw, next, time.Now()) {
		return
	}
	if held { // subscribers have the held list, not the store's previous one
		sw.publishFrom(next)
		return
	}
	sw.publish(next, changed, reset)
}

// publishFrom publishes list, working out what changed from the current
// base: O(n), for the rare moves that do not come from one change (a hold
// starting or ending). sw.mu must be held.
func (sw *serviceWatch) publishFrom(list *Snapshot) {
	puts, dels := diffSorted(sw.base, list.Slice())
	sw.publish(list, changedAddrs(puts, dels), sw.base == nil)
}

// publish makes base the subscribers' list and moves every view by the
// addresses that changed. sw.mu must be held.
func (sw *serviceWatch) publish(base *Snapshot, changed []string, reset bool) {
	sw.base = base
	sw.ins.changeDelivered(sw.attrs)
	for _, v := range sw.views {
		if u, ok := v.advance(base, changed, reset, sw.log); ok {
			for sub := range v.subs {
				sub.deliver(u)
			}
		}
	}
	for sub := range sw.private {
		sub.inbox.post(base, changed, reset)
	}
}

func (sw *serviceWatch) stopHold() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.pres.stop()
}

// uniqueByAddr sorts list by address and keeps the first of duplicates.
func uniqueByAddr(list []Instance) []Instance {
	if list == nil {
		return []Instance{}
	}
	slices.SortStableFunc(list, func(a, b Instance) int { return cmp.Compare(a.Addr, b.Addr) })
	return slices.CompactFunc(list, func(a, b Instance) bool { return a.Addr == b.Addr })
}

// diffSorted returns what turns s into list (sorted, unique): O(n).
func diffSorted(s *Snapshot, list []Instance) (puts []Instance, dels []string) {
	j := 0
	for in := range s.All() {
		for j < len(list) && list[j].Addr < in.Addr {
			puts = append(puts, list[j])
			j++
		}
		if j < len(list) && list[j].Addr == in.Addr {
			if !sameInstance(in, list[j]) {
				puts = append(puts, list[j])
			}
			j++
			continue
		}
		dels = append(dels, in.Addr)
	}
	return append(puts, list[j:]...), dels
}

func changedAddrs(puts []Instance, dels []string) []string {
	out := make([]string, 0, len(puts)+len(dels))
	for _, p := range puts {
		out = append(out, p.Addr)
	}
	return append(out, dels...)
}
