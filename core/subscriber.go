package core

import (
	"log/slog"
	"sync"
)

// subscriber is one Watch. Core's own filters run in the shared watch loop;
// a subscriber with user filters (WithFilter) gets a goroutine of its own that
// runs them, so a filter that blocks stalls only its own subscriber, never
// the shared loop or the other subscribers.
type subscriber struct {
	ch     chan []Instance // capacity 1: holds the newest undelivered list
	filter *filterSet
	log    *slog.Logger
	stop   func() bool // unregisters the context.AfterFunc

	// inbox holds the newest unfiltered list for the filter goroutine; nil
	// without user filters. Only the holder of the serviceWatch lock sends.
	inbox chan []Instance
	done  chan struct{} // closed with ch; ends the filter goroutine

	mu     sync.Mutex // guards sends on ch against close, and last/sent
	last   []Instance // last list delivered, to skip repeats
	sent   bool
	closed bool
}

func newSubscriber(f *filterSet, log *slog.Logger) *subscriber {
	s := &subscriber{ch: make(chan []Instance, 1), filter: f, log: log, done: make(chan struct{})}
	if len(f.custom) > 0 {
		s.inbox = make(chan []Instance, 1)
		go s.runFilters()
	}
	return s
}

// post hands the service's current list to s without blocking. The caller
// holds the serviceWatch lock.
func (s *subscriber) post(list []Instance) {
	if s.inbox == nil {
		s.send(s.filter.apply(list, s.log))
		return
	}
	replaceNewest(s.inbox, list)
}

// runFilters applies the user's filters off the shared loop. When the filter
// is slow, lists pile up nowhere: the inbox holds only the newest.
func (s *subscriber) runFilters() {
	for {
		select {
		case list := <-s.inbox:
			s.send(s.filter.apply(list, s.log))
		case <-s.done:
			return
		}
	}
}

// send delivers out unless it repeats the last list; an unread older list in
// the channel is replaced by this one.
func (s *subscriber) send(out []Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.sent && equalLists(s.last, out) {
		return
	}
	s.last, s.sent = out, true
	replaceNewest(s.ch, out)
}

func (s *subscriber) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.ch)
	close(s.done)
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
