//go:build consul

package consul

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/seedforge/discovery/core"
)

// fetchFunc runs one query: non-blocking with index 0, otherwise blocking
// until Consul's index passes index or wait ends. It returns the list and
// the index Consul answered with (X-Consul-Index).
type fetchFunc func(ctx context.Context, index uint64, wait time.Duration) ([]core.Instance, uint64, error)

// watcher is a core.Watcher over blocking queries. It holds the index
// bookkeeping Consul asks clients to do; it never retries: a failed query is
// Next's error, and core decides when to try again.
type watcher struct {
	fetch       fetchFunc
	wait        time.Duration
	minInterval time.Duration

	ctx    context.Context // the Watch's context, also ended by Close
	cancel context.CancelFunc
	once   sync.Once

	// Touched by Next only; core never calls Next concurrently.
	index     uint64 // the index the next query waits on
	last      uint64 // the index Consul last answered with
	started   bool
	lastQuery time.Time
	answer    map[string]core.Instance // the last answer by address, for NextChange
}

func (c *client) newWatcher(ctx context.Context, fetch fetchFunc) *watcher {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(c.ctx, cancel) // driver Close ends it too
	return &watcher{
		fetch:       fetch,
		wait:        c.cfg.WaitTime,
		minInterval: c.cfg.MinQueryInterval,
		ctx:         ctx,
		cancel:      func() { stop(); cancel() },
	}
}

// nextIndex applies Consul's rules to the index got a query answered with,
// giving the index the next query waits on (prev is the one this query
// waited on): an index below 1 is raised to 1, since waiting on 0 is no wait
// at all (an answer of 0 is a Consul bug, and would make a hot loop); an
// index that went backwards is reset to 0, so the next query returns at once
// and blocking starts afresh from the new index.
func nextIndex(prev, got uint64) uint64 {
	switch {
	case got < 1:
		return 1
	case got < prev:
		return 0
	}
	return got
}

// queryDeadline bounds one blocking query: Consul answers by wait plus up to
// wait/16 of jitter; an answer later than that plus a margin means the
// connection is dead (say, a half-open TCP connection), which is an error.
func queryDeadline(wait time.Duration) time.Duration {
	return wait + wait/16 + 10*time.Second
}

var _ core.DeltaWatcher = (*watcher)(nil)

// Next returns the list of the next answer with a new index.
func (w *watcher) Next(outer context.Context) ([]core.Instance, error) {
	list, err := w.nextAnswer(outer)
	if err != nil {
		return nil, err
	}
	w.answer = byAddr(list)
	return list, nil
}

// NextChange returns what the next answers changed against the last one:
// Consul answers with whole lists, so the change is worked out here, where
// the index says an answer is new, and only a real change reaches core.
func (w *watcher) NextChange(outer context.Context) (core.Change, error) {
	for {
		list, err := w.nextAnswer(outer)
		if err != nil {
			return core.Change{}, err
		}
		next := byAddr(list)
		var c core.Change
		for addr, in := range next {
			if old, ok := w.answer[addr]; !ok || !sameInstance(old, in) {
				c.Put = append(c.Put, in)
			}
		}
		for addr := range w.answer {
			if _, ok := next[addr]; !ok {
				c.Deleted = append(c.Deleted, addr)
			}
		}
		w.answer = next
		if len(c.Put) > 0 || len(c.Deleted) > 0 {
			return c, nil
		}
	}
}

// byAddr indexes an answer by address; of two entries with one address the
// first wins, as core keeps the first of a full list.
func byAddr(list []core.Instance) map[string]core.Instance {
	m := make(map[string]core.Instance, len(list))
	for _, in := range list {
		if _, dup := m[in.Addr]; !dup {
			m[in.Addr] = in
		}
	}
	return m
}

func sameInstance(a, b core.Instance) bool {
	return a.Service == b.Service && a.Addr == b.Addr && maps.Equal(a.Meta, b.Meta)
}

// nextAnswer runs blocking queries until one answers with a new index.
func (w *watcher) nextAnswer(outer context.Context) ([]core.Instance, error) {
	ctx, cancel := context.WithCancel(outer)
	defer cancel()
	stop := context.AfterFunc(w.ctx, cancel)
	defer stop()
	for {
		// Rate limit: a query that returns at once (a bug, an index stuck
		// below the current one, a flapping check) must not become a hot loop.
		if w.started {
			if pause := w.minInterval - time.Since(w.lastQuery); pause > 0 {
				t := time.NewTimer(pause)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return nil, w.ended(outer)
				}
			}
		}
		w.lastQuery = time.Now()
		qctx, qcancel := context.WithTimeout(ctx, queryDeadline(w.wait))
		list, got, err := w.fetch(qctx, w.index, w.wait)
		qcancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil, w.ended(outer)
			}
			return nil, err
		}
		changed := !w.started || got != w.last
		w.started, w.last = true, got
		w.index = nextIndex(w.index, got)
		// The same index as the last answer means nothing new (the wait
		// ended, or the reset query found what we returned): query again.
		// A changed one, forwards or backwards, may mean a new list.
		if changed {
			return list, nil
		}
	}
}

// ended is the error of a Next cut short by the caller's context (its
// error), or by Close, the driver's Close or the Watch's context (ErrClosed).
func (w *watcher) ended(outer context.Context) error {
	if err := outer.Err(); err != nil {
		return err
	}
	return core.ErrClosed
}

func (w *watcher) Close() error {
	w.once.Do(w.cancel)
	return nil
}
