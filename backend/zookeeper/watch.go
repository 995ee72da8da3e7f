//go:build zookeeper

package zookeeper

import (
	"context"
	"errors"
	"maps"
	"sync"

	"github.com/go-zookeeper/zk"

	"github.com/seedforge/discovery/core"
)

func (d *driver) Watch(ctx context.Context, service string) (core.Watcher, error) {
	if err := core.ValidateService(service); err != nil {
		return nil, err
	}
	if err := d.ValidateService(service); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	w := &watcher{
		d:        d,
		ctx:      ctx,
		service:  service,
		dir:      d.serviceDir(service),
		signal:   make(chan struct{}, 1),
		stop:     make(chan struct{}),
		nodes:    map[string]*node{},
		children: map[string]struct{}{},
		changed:  map[string]bool{},
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closing {
		return nil, core.ErrClosed
	}
	w.lost = d.lost
	ws := d.watchers[w.dir]
	if ws == nil {
		ws = map[*watcher]struct{}{}
		d.watchers[w.dir] = ws
	}
	ws[w] = struct{}{}
	return w, nil
}

func (d *driver) unwatch(w *watcher) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ws := d.watchers[w.dir]; ws != nil {
		delete(ws, w)
		if len(ws) == 0 {
			delete(d.watchers, w.dir)
		}
	}
}

// node is what a watcher knows of one child of the service node.
type node struct {
	inst  core.Instance
	valid bool
}

// watcher follows one service: a children watch on the service node (or an
// exists watch while it is missing) and a data watch on every instance node.
// ZooKeeper watches fire once; each is set again when its event is handled.
// While disconnected it waits: the client re-arms the session's watches on
// reconnect, and the server fires those whose nodes changed meanwhile. Only
// the loss of the session (expiry) or Close ends it with an error.
type watcher struct {
	d       *driver
	ctx     context.Context
	service string
	dir     string
	lost    <-chan struct{}
	signal  chan struct{} // capacity 1: there are pending changes
	stop    chan struct{}
	once    sync.Once

	mu         sync.Mutex
	dirChanged bool            // the service node's children or existence changed
	changed    map[string]bool // instance nodes whose data changed (true) or that were deleted (false)

	// Owned by the goroutine calling Next.
	started  bool
	children map[string]struct{} // names under the service node
	nodes    map[string]*node    // by node name; present = its data watch is set
}

func (w *watcher) notify(child string, deleted bool) {
	w.mu.Lock()
	switch {
	case child == "":
		w.dirChanged = true
	case deleted:
		w.changed[child] = false
	default:
		if _, ok := w.changed[child]; !ok {
			w.changed[child] = true
		}
	}
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

var _ core.DeltaWatcher = (*watcher)(nil)

func (w *watcher) Next(ctx context.Context) ([]core.Instance, error) {
	if err := w.alive(ctx); err != nil {
		return nil, err
	}
	if !w.started {
		if err := w.auth(ctx); err != nil {
			return nil, err
		}
		if _, err := w.loadChildren(ctx); err != nil {
			return nil, err
		}
		w.started = true
		return w.list(), nil
	}
	if _, err := w.NextChange(ctx); err != nil {
		return nil, err
	}
	return w.list(), nil
}

// NextChange waits for events and returns what they changed: the nodes
// whose data watch fired, and the children added or removed when the
// service node's children watch fired. Only those are read again.
func (w *watcher) NextChange(ctx context.Context) (core.Change, error) {
	if !w.started {
		return core.Change{}, errors.New("zookeeper watch: NextChange before the first Next")
	}
	for {
		w.mu.Lock()
		dirChanged, changed := w.dirChanged, w.changed
		w.dirChanged, w.changed = false, map[string]bool{}
		w.mu.Unlock()
		if dirChanged || len(changed) > 0 {
			affected := maps.Clone(changed)
			if dirChanged {
				for name := range w.children {
					affected[name] = true
				}
			}
			before := w.valid(affected)
			if err := w.apply(ctx, dirChanged, changed); err != nil {
				return core.Change{}, err
			}
			if dirChanged {
				for name := range w.children {
					affected[name] = true
				}
			}
			if c := w.changeSince(before, affected); len(c.Put) > 0 || len(c.Deleted) > 0 {
				return c, nil
			}
			continue
		}
		if err := w.wait(ctx); err != nil {
			return core.Change{}, err
		}
	}
}

// valid returns the valid instances among names, by node name.
func (w *watcher) valid(names map[string]bool) map[string]core.Instance {
	out := make(map[string]core.Instance, len(names))
	for name := range names {
		if _, listed := w.children[name]; !listed {
			continue
		}
		if n, ok := w.nodes[name]; ok && n.valid {
			out[name] = n.inst
		}
	}
	return out
}

// changeSince compares the instances of names now with before.
func (w *watcher) changeSince(before map[string]core.Instance, names map[string]bool) core.Change {
	after := w.valid(names)
	var c core.Change
	for name, a := range after {
		if b, ok := before[name]; !ok || b.Addr != a.Addr || !maps.Equal(b.Meta, a.Meta) {
			c.Put = append(c.Put, a)
		}
	}
	for name, b := range before {
		if _, ok := after[name]; !ok {
			c.Deleted = append(c.Deleted, b.Addr)
		}
	}
	return c
}

func (w *watcher) wait(ctx context.Context) error {
	select {
	case <-w.signal:
		return nil
	case <-w.lost:
		return errors.New("zookeeper: session lost; watch ends")
	case <-ctx.Done():
		return ctx.Err()
	case <-w.ctx.Done():
		return w.ctx.Err()
	case <-w.stop:
		return core.ErrClosed
	case <-w.d.closed:
		return core.ErrClosed
	}
}

func (w *watcher) auth(ctx context.Context) error { return w.d.auth(ctx) }

func (w *watcher) alive(ctx context.Context) error {
	select {
	case <-w.stop:
		return core.ErrClosed
	case <-w.d.closed:
		return core.ErrClosed
	case <-w.lost:
		return errors.New("zookeeper: session lost; watch ends")
	default:
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	return ctx.Err()
}

// apply handles pending events: it reads again what changed and sets the
// watches that fired. On error the watcher is done: core closes it and opens
// a new one, which reads everything afresh.
func (w *watcher) apply(ctx context.Context, dirChanged bool, changed map[string]bool) error {
	fresh := map[string]bool{}
	if dirChanged {
		var err error
		if fresh, err = w.loadChildren(ctx); err != nil {
			return err
		}
	}
	var reload []string
	for name, exists := range changed {
		if _, ok := w.children[name]; !ok {
			delete(w.nodes, name)
			continue
		}
		if fresh[name] {
			continue // just read, with a new watch
		}
		delete(w.nodes, name) // its watch fired
		if !exists {
			// Deleted: nothing to read (a read would only ask for a watch on
			// a missing node); the children watch reports a re-creation.
			delete(w.children, name)
			continue
		}
		reload = append(reload, name)
	}
	return w.loadNodes(ctx, reload)
}

// loadChildren reads the service node's children, setting a children watch,
// or an exists watch while the node is missing, then reads each new child.
// It returns the children it read.
func (w *watcher) loadChildren(ctx context.Context) (map[string]bool, error) {
	d := w.d
	children, err := w.childrenW(ctx)
	if errors.Is(err, zk.ErrNoNode) {
		exists, err := d.existsW(ctx, w.dir)
		if err != nil {
			return nil, d.wrap("watch", w.dir, err)
		}
		if !exists {
			clear(w.children)
			clear(w.nodes)
			return nil, nil
		}
		// Created in between: read again. Missing again means deleted again,
		// which the data watch ExistsW just set reports.
		if children, err = w.childrenW(ctx); errors.Is(err, zk.ErrNoNode) {
			clear(w.children)
			clear(w.nodes)
			return nil, nil
		}
	}
	if err != nil {
		return nil, d.wrap("watch", w.dir, err)
	}
	clear(w.children)
	for _, name := range children {
		w.children[name] = struct{}{}
	}
	for name := range w.nodes {
		if _, ok := w.children[name]; !ok {
			delete(w.nodes, name)
		}
	}
	fresh := map[string]bool{}
	var load []string
	for _, name := range children {
		if _, ok := w.nodes[name]; !ok { // known ones have their data watch set
			load = append(load, name)
			fresh[name] = true
		}
	}
	if err := w.loadNodes(ctx, load); err != nil {
		return nil, err
	}
	return fresh, nil
}

func (w *watcher) childrenW(ctx context.Context) ([]string, error) {
	return w.d.childrenW(ctx, w.dir)
}

// loadNodes reads instance nodes and sets their data watches. A node
// deleted since the listing is skipped (the children watch reports it); a
// node whose name or data is not an instance is kept out of the list, with a
// warning each time it is written.
func (w *watcher) loadNodes(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	reads, err := w.d.readNodes(ctx, w.dir, names, true)
	if err != nil {
		return err
	}
	for _, r := range reads {
		if r.missing {
			continue
		}
		inst, err := parseNode(w.service, r.name, r.data)
		if err != nil {
			w.d.log.Warn("zookeeper: skipping an unreadable instance node", "path", core.StoreData(w.dir+"/"+r.name), "err", err)
			w.nodes[r.name] = &node{}
			continue
		}
		w.nodes[r.name] = &node{inst: inst, valid: true}
	}
	return nil
}

// list returns the valid instances, in a new slice core may reorder.
func (w *watcher) list() []core.Instance {
	out := make([]core.Instance, 0, len(w.children))
	for name := range w.children {
		if n, ok := w.nodes[name]; ok && n.valid {
			out = append(out, n.inst)
		}
	}
	return out
}

func (w *watcher) Close() error {
	w.once.Do(func() {
		close(w.stop)
		w.d.unwatch(w)
	})
	return nil
}
