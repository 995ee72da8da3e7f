package core

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"
)

// serviceWatch is the one store watch of a service, shared by its subscribers.
type serviceWatch struct {
	service string
	cancel  context.CancelFunc
	log     *slog.Logger

	mu     sync.Mutex // guards everything below; held while delivering
	list   []Instance // what subscribers were given last, sorted by address
	known  bool
	subs   map[*subscriber]struct{}
	pres   preservation
	health watchHealth
}

func newServiceWatch(service string, cancel context.CancelFunc, o Options) *serviceWatch {
	sw := &serviceWatch{
		service: service,
		cancel:  cancel,
		log:     o.Logger.With("service", service),
		subs:    map[*subscriber]struct{}{},
		health:  watchHealth{state: WatchStarting, since: time.Now()},
	}
	sw.pres = preservation{fraction: o.SelfPreservation, hold: o.SelfPreservationHold}
	return sw
}

// current returns the list subscribers have, and whether one was read yet.
func (sw *serviceWatch) current() ([]Instance, bool) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.list, sw.known
}

func (sw *serviceWatch) subscribe(sub *subscriber) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.subs[sub] = struct{}{}
	if sw.known {
		sub.post(sw.list)
	}
}

// unsubscribe closes sub and returns how many subscribers remain.
func (sw *serviceWatch) unsubscribe(sub *subscriber) int {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if _, ok := sw.subs[sub]; ok {
		delete(sw.subs, sub)
		sub.close()
	}
	return len(sw.subs)
}

// closeAll closes every subscriber (Discovery.Close).
func (sw *serviceWatch) closeAll() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	for sub := range sw.subs {
		if sub.stop != nil {
			sub.stop()
		}
		delete(sw.subs, sub)
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
	valid := listChecker{log: sw.log}
	for {
		opened := time.Now()
		delivered := false
		w, err := d.d.Watch(ctx, sw.service)
		if err == nil {
			for {
				var list []Instance
				list, err = w.Next(ctx)
				if err != nil {
					break
				}
				if !delivered {
					delivered = true
					sw.markHealthy()
				}
				sw.publish(sortByAddr(valid.check(sw.service, list)))
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
		list, _ := sw.current()
		sw.log.Warn("discovery: watch broke; keeping the last list", "instances_kept", len(list), "retry_in", delay, "err", err)
		if !sleep(ctx, delay) {
			return
		}
	}
}

// publish takes a list read successfully from the store and hands it to the
// subscribers, unless self-preservation holds the previous one.
func (sw *serviceWatch) publish(list []Instance) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if !sw.pres.admit(sw, list, time.Now()) {
		return
	}
	sw.setList(list)
}

// setList makes list current and delivers it. sw.mu must be held.
func (sw *serviceWatch) setList(list []Instance) {
	sw.list, sw.known = list, true
	for sub := range sw.subs {
		sub.post(list)
	}
}

func (sw *serviceWatch) stopHold() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.pres.stop()
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
