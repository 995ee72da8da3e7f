//go:build zookeeper

package zookeeper

import (
	"context"

	"github.com/go-zookeeper/zk"
)

// The client files every watch set in a list per node and kind, and cannot
// remove one: a watch set by a watcher that was closed since stays until its
// node changes. Core opens watchers again after every error, so setting all
// watches again on each open would grow those lists without bound for nodes
// that never change. The driver therefore records which watches its client
// holds and sets one only where none is outstanding. That is enough for every
// watcher: events reach all watchers of a service through onEvent, whoever
// set the watch that fired.

// watchKind is a kind of watch as the client files them.
type watchKind uint8

const (
	watchData  watchKind = iota // GetW, or ExistsW on an existing node
	watchExist                  // ExistsW on a missing node
	watchChild                  // ChildrenW
	numWatchKinds
)

// firedKinds are the kinds an event of type t fires (and the client drops),
// as go-zookeeper's notifyWatches has them.
func firedKinds(t zk.EventType) []watchKind {
	switch t {
	case zk.EventNodeCreated:
		return []watchKind{watchExist}
	case zk.EventNodeDataChanged:
		return []watchKind{watchExist, watchData}
	case zk.EventNodeChildrenChanged:
		return []watchKind{watchChild}
	case zk.EventNodeDeleted:
		return []watchKind{watchExist, watchData, watchChild}
	}
	return nil
}

// pathWatches is what the driver knows of the watches on one node.
type pathWatches struct {
	held    [numWatchKinds]bool
	pending int    // reads in flight that may set a watch here
	events  uint64 // events seen on the node while this entry lived
}

// beginWatch registers a read of path that may set a watch; it returns the
// node's entry, its event count now and which watches are held. Call
// endWatch when the read is done. d.mu must not be held.
func (d *driver) beginWatch(path string) (*pathWatches, uint64, [numWatchKinds]bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	pw := d.armed[path]
	if pw == nil {
		pw = &pathWatches{}
		d.armed[path] = pw
	}
	pw.pending++
	return pw, pw.events, pw.held
}

// endWatch ends a read begun at event count at, recording that it set a
// watch of kind if set. A watch set while an event on the node was on its
// way may already be gone with that event: it is not recorded, so the
// next read sets one again (at worst one watch too many, never one missing).
func (d *driver) endWatch(path string, pw *pathWatches, at uint64, kind watchKind, set bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	pw.pending--
	if set && pw.events == at {
		pw.held[kind] = true
	}
	d.forgetIdle(path, pw)
}

func (d *driver) forgetIdle(path string, pw *pathWatches) {
	if pw.pending == 0 && pw.held == [numWatchKinds]bool{} && d.armed[path] == pw {
		delete(d.armed, path)
	}
}

// watchFired records the watches an event on path fired. d.mu is held.
func (d *driver) watchFired(ev zk.Event) {
	pw := d.armed[ev.Path]
	if pw == nil {
		return
	}
	pw.events++
	for _, k := range firedKinds(ev.Type) {
		pw.held[k] = false
	}
	d.forgetIdle(ev.Path, pw)
}

// watchesDropped records that the client dropped every watch (the session
// expired or the client is closing). d.mu is held.
func (d *driver) watchesDropped() {
	for path, pw := range d.armed {
		pw.events++
		pw.held = [numWatchKinds]bool{}
		d.forgetIdle(path, pw)
	}
}

// heldWatches counts the watches the driver's client holds, for tests.
func (d *driver) heldWatches() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, pw := range d.armed {
		for _, h := range pw.held {
			if h {
				n++
			}
		}
	}
	return n
}

// getW reads the data of path, setting a data watch unless one is held.
func (d *driver) getW(ctx context.Context, path string) ([]byte, error) {
	return readWatched(ctx, d, path, watchData,
		func() ([]byte, error) { b, _, err := d.conn.Get(path); return b, err },
		func() ([]byte, error) { b, _, _, err := d.conn.GetW(path); return b, err })
}

// childrenW lists the children of path, setting a children watch unless one
// is held.
func (d *driver) childrenW(ctx context.Context, path string) ([]string, error) {
	return readWatched(ctx, d, path, watchChild,
		func() ([]string, error) { c, _, err := d.conn.Children(path); return c, err },
		func() ([]string, error) { c, _, _, err := d.conn.ChildrenW(path); return c, err })
}

// readWatched reads path with watched, which sets a watch of kind, or with
// plain when the client holds one already. It runs in call's goroutine, so
// a watch set by a read its caller abandoned is recorded too.
func readWatched[T any](ctx context.Context, d *driver, path string, kind watchKind, plain, watched func() (T, error)) (T, error) {
	return call(ctx, d, func() (T, error) {
		pw, at, held := d.beginWatch(path)
		if held[kind] {
			v, err := plain()
			d.endWatch(path, pw, at, kind, false)
			return v, err
		}
		d.watchRequests.Add(1)
		v, err := watched()
		d.endWatch(path, pw, at, kind, err == nil)
		return v, err
	})
}

// existsW says whether path exists, setting a watch on its existence
// (a data watch when it exists, an exist watch when not) unless one is held.
func (d *driver) existsW(ctx context.Context, path string) (bool, error) {
	ok, _, err := d.statW(ctx, path, nil)
	return ok, err
}

// statW is existsW with the node's stat. When the node exists and ours(stat)
// says it is one of our registrations, and a data watch on it is held once
// the read is done, it records that: until that watch fires (the node
// changed or was deleted) or the session's watches are dropped, the node is
// known to be ours without a read (ownUnchanged).
func (d *driver) statW(ctx context.Context, path string, ours func(*zk.Stat) bool) (bool, *zk.Stat, error) {
	type res struct {
		ok bool
		st *zk.Stat
	}
	r, err := call(ctx, d, func() (res, error) {
		pw, at, held := d.beginWatch(path)
		var r res
		var err error
		if held[watchData] || held[watchExist] {
			r.ok, r.st, err = d.conn.Exists(path)
			d.endWatch(path, pw, at, watchData, false)
		} else {
			d.watchRequests.Add(1)
			r.ok, r.st, _, err = d.conn.ExistsW(path)
			kind := watchExist
			if r.ok {
				kind = watchData
			}
			d.endWatch(path, pw, at, kind, err == nil)
		}
		if err == nil && r.ok && ours != nil && ours(r.st) {
			d.mu.Lock()
			if d.armed[path] == pw && pw.events == at && pw.held[watchData] {
				d.owned[path] = ownCheck{pw: pw, events: at}
			}
			d.mu.Unlock()
		}
		return r, err
	})
	return r.ok, r.st, err
}

// ownCheck is the watch state of one of our nodes when it was last found to
// be ours: the node's entry and its event count then.
type ownCheck struct {
	pw     *pathWatches
	events uint64
}

// ownUnchanged says whether path was found to be ours under a data watch
// that has not fired since: no request is needed to know it still is (an
// ephemeral node changes owner only by being deleted, which fires it).
func (d *driver) ownUnchanged(path string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	c, ok := d.owned[path]
	return ok && d.armed[path] == c.pw && c.pw.events == c.events && c.pw.held[watchData]
}

// forgetOwned drops path from the nodes known to be ours (deregistered).
func (d *driver) forgetOwned(path string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.owned, path)
}
