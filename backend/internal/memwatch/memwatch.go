// Package memwatch is the watch of the in-memory backends (inprocess, and
// the fixed lists behind p2p and multi): a change counter whose channel is
// closed on every change, the Watcher.Next loop that waits on it, and, for
// owners that Record what changed, the DeltaWatcher.NextChange loop.
package memwatch

import (
	"context"
	"errors"
	"sync"

	"github.com/seedforge/discovery/core"
)

// Changes counts the changes of one list. Its owner guards it with the lock
// it passes to Cursor.Next.
type Changes struct {
	version uint64
	changed chan struct{}
	log     []core.Change // log[i] made version logFrom+i
	logFrom uint64
}

// maxLog bounds the changes kept for cursors that are behind; one further
// behind re-reads the list (ErrBehind makes core reopen the watch).
const maxLog = 4096

// ErrBehind ends a delta watch whose cursor fell behind the kept changes.
var ErrBehind = errors.New("memwatch: watcher fell behind the kept changes; re-reading the list")

// Bump records a change it does not describe: delta cursors re-read.
func (c *Changes) Bump() {
	c.version++
	c.log, c.logFrom = c.log[:0], c.version+1
	c.wake()
}

// Record records a change and what it was, for NextChange.
func (c *Changes) Record(ch core.Change) {
	c.version++
	if len(c.log) == 0 {
		c.logFrom = c.version
	}
	c.log = append(c.log, ch)
	if len(c.log) > maxLog {
		drop := len(c.log) / 2
		c.log = append(c.log[:0:0], c.log[drop:]...)
		c.logFrom += uint64(drop)
	}
	c.wake()
}

func (c *Changes) wake() {
	if c.changed != nil {
		close(c.changed)
	}
	c.changed = make(chan struct{})
}

func (c *Changes) state() (uint64, <-chan struct{}) {
	if c.changed == nil {
		c.changed = make(chan struct{})
	}
	return c.version, c.changed
}

// Cursor is one watcher's position in a list's changes.
type Cursor struct {
	seen    uint64
	started bool
}

// Source is what a watcher reads, all under the owner's lock.
type Source struct {
	Lock sync.Locker
	// Changes returns the counter to follow, or an error that ends the
	// watch (a store that is down).
	Changes func() (*Changes, error)
	// List returns a fresh copy of the list.
	List func() []core.Instance
	// Wake, Stop and Closed may be nil. Wake re-checks Changes (the store
	// went down); Stop and Closed end the watch with core.ErrClosed.
	Wake, Stop, Closed <-chan struct{}
}

// Next implements core.Watcher.Next: the list on the first call, then the
// list each time it changed, waiting in between.
func (c *Cursor) Next(ctx context.Context, s Source) ([]core.Instance, error) {
	for {
		s.Lock.Lock()
		ch, err := s.Changes()
		if err != nil {
			s.Lock.Unlock()
			return nil, err
		}
		v, changed := ch.state()
		if !c.started || v != c.seen {
			c.started, c.seen = true, v
			list := s.List()
			s.Lock.Unlock()
			return list, nil
		}
		s.Lock.Unlock()
		if err := s.wait(ctx, changed); err != nil {
			return nil, err
		}
	}
}

func (s Source) wait(ctx context.Context, changed <-chan struct{}) error {
	select {
	case <-changed:
		return nil
	case <-s.Wake:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.Stop:
		return core.ErrClosed
	case <-s.Closed:
		return core.ErrClosed
	}
}

// NextChange implements core.DeltaWatcher.NextChange after a first Next:
// what changed since the cursor's position, the last operation on each
// address winning, waiting until something did.
func (c *Cursor) NextChange(ctx context.Context, s Source) (core.Change, error) {
	for {
		s.Lock.Lock()
		ch, err := s.Changes()
		if err != nil {
			s.Lock.Unlock()
			return core.Change{}, err
		}
		v, changed := ch.state()
		if v != c.seen {
			if !c.started || len(ch.log) == 0 || c.seen+1 < ch.logFrom {
				s.Lock.Unlock()
				return core.Change{}, ErrBehind
			}
			out := merge(ch.log[c.seen+1-ch.logFrom : v+1-ch.logFrom])
			c.seen = v
			s.Lock.Unlock()
			return out, nil
		}
		s.Lock.Unlock()
		if err := s.wait(ctx, changed); err != nil {
			return core.Change{}, err
		}
	}
}

// merge folds changes in order into one, the last operation per address
// winning, in slices of its own.
func merge(changes []core.Change) core.Change {
	if len(changes) == 1 {
		c := changes[0]
		return core.Change{Put: append([]core.Instance(nil), c.Put...), Deleted: append([]string(nil), c.Deleted...)}
	}
	put := map[string]core.Instance{}
	deleted := map[string]bool{}
	for _, c := range changes {
		for _, in := range c.Put {
			put[in.Addr] = in
			delete(deleted, in.Addr)
		}
		for _, a := range c.Deleted {
			deleted[a] = true
			delete(put, a)
		}
	}
	var out core.Change
	for _, in := range put {
		out.Put = append(out.Put, in)
	}
	for a := range deleted {
		out.Deleted = append(out.Deleted, a)
	}
	return out
}
