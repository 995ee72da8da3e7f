package core

import (
	"log/slog"
	"sync"
)

// subscriber is one Watch (full lists) or WatchChanges (Updates).
// Subscribers with only core's filters share a view of the serviceWatch and
// are fed by the shared watch loop. A subscriber with user filters
// (WithFilter) has a view of its own and a goroutine that moves it, so a
// filter that blocks stalls only its own subscriber, never the shared loop
// or the other subscribers.
type subscriber struct {
	lists   chan []Instance // Watch; capacity 1, holds the newest unread list
	updates chan Update     // WatchChanges; capacity 1, holds the newest unread Update
	filter  *filterSet
	log     *slog.Logger
	stop    func() bool // unregisters the context.AfterFunc

	own   *view  // the private view of a subscriber with user filters
	inbox *inbox // what the shared loop hands to own's goroutine
	done  chan struct{}

	mu       sync.Mutex // guards sends against close, and the fields below
	closed   bool
	lastSent *Snapshot // List of the newest Update sent
	reader   *Snapshot // List the reader has when the unread Update is taken back
}

func newSubscriber(f *filterSet, log *slog.Logger, changes bool) *subscriber {
	s := &subscriber{filter: f, log: log, done: make(chan struct{})}
	if changes {
		s.updates = make(chan Update, 1)
	} else {
		s.lists = make(chan []Instance, 1)
	}
	if _, shared := f.viewKey(); !shared {
		s.own = &view{filter: f}
		s.inbox = &inbox{wake: make(chan struct{}, 1)}
		go s.runFilters()
	}
	return s
}

// runFilters moves the private view off the shared loop. A slow filter
// makes changes pile up in the inbox as addresses, bounded by the service.
func (s *subscriber) runFilters() {
	for {
		select {
		case <-s.inbox.wake:
			base, changed, reset := s.inbox.take()
			if u, ok := s.own.advance(base, changed, reset, s.log); ok {
				s.deliver(u)
			}
		case <-s.done:
			return
		}
	}
}

// deliver hands u to the reader without blocking. An unread older value is
// replaced: a list by the newer list, an Update by one that spans both.
func (s *subscriber) deliver(u Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if s.lists != nil {
		replaceNewest(s.lists, u.List.Slice())
		return
	}
	select {
	case old := <-s.updates: // unread: the reader still has s.reader
		u = spanning(s.reader, old, u)
	default: // the reader took the last one, if any
		s.reader = s.lastSent
	}
	s.updates <- u
	s.lastSent = u.List
}

// spanning merges two Updates the reader did not take apart into one, from
// the list the reader has to the newest. O(changes · log n).
func spanning(reader *Snapshot, older, newer Update) Update {
	if older.Reset || reader == nil {
		return Update{List: newer.List, Reset: true}
	}
	out := Update{List: newer.List}
	seen := map[string]bool{}
	for _, part := range [][]Instance{older.Upserted, older.Removed, newer.Upserted, newer.Removed} {
		for _, in := range part {
			if seen[in.Addr] {
				continue
			}
			seen[in.Addr] = true
			before, had := reader.Get(in.Addr)
			after, has := newer.List.Get(in.Addr)
			switch {
			case has && (!had || !sameInstance(before, after)):
				out.Upserted = append(out.Upserted, after)
			case had && !has:
				out.Removed = append(out.Removed, before)
			}
		}
	}
	return out
}

func (s *subscriber) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	if s.lists != nil {
		close(s.lists)
	} else {
		close(s.updates)
	}
	close(s.done)
}

// inbox holds, for a subscriber's own goroutine, the newest base snapshot
// and the addresses changed since the goroutine last took it.
type inbox struct {
	mu      sync.Mutex
	base    *Snapshot
	changed []string
	reset   bool
	wake    chan struct{} // capacity 1
}

func (b *inbox) post(base *Snapshot, changed []string, reset bool) {
	b.mu.Lock()
	b.base = base
	switch {
	case reset || b.reset || len(b.changed)+len(changed) > base.Len():
		b.reset, b.changed = true, nil // as cheap to rebuild as to replay
	default:
		b.changed = append(b.changed, changed...)
	}
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *inbox) take() (*Snapshot, []string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	base, changed, reset := b.base, b.changed, b.reset
	b.changed, b.reset = nil, false
	return base, changed, reset
}

// replaceNewest puts v in ch (capacity 1) without blocking, dropping an
// unread older value. The caller must be ch's only sender.
func replaceNewest[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
		select {
		case <-ch:
		default:
		}
		ch <- v
	}
}
