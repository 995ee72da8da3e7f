//go:build zookeeper

package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-zookeeper/zk"

	"github.com/seedforge/discovery/core"
)

// rpcx's markers: the data of the base path node and of a service node.
const basePathData = "rpcx_path"

// closeWait bounds how long Close waits for the client's goroutines.
const closeWait = 10 * time.Second

// New connects to ZooKeeper. It does not wait for the connection: the
// client connects, reconnects and renews its session in the background, and
// calls made meanwhile wait for it or fail.
func New(cfg Config) (core.Driver, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &driver{
		cfg:      cfg,
		log:      cfg.Logger.With("backend", "zookeeper"),
		watchers: map[string]map[*watcher]struct{}{},
		lost:     make(chan struct{}),
		closed:   make(chan struct{}),
	}
	if cfg.Username != "" {
		d.acl = append(zk.DigestACL(zk.PermAll, cfg.Username, cfg.Password), zk.WorldACL(zk.PermRead)...)
	} else {
		d.acl = zk.WorldACL(zk.PermAll)
	}
	conn, events, err := zk.Connect(cfg.Servers, cfg.SessionTimeout,
		zk.WithLogger(zkLogger{d.log}),
		zk.WithEventCallback(d.onEvent),
	)
	if err != nil {
		return nil, fmt.Errorf("zookeeper: connect to %s: %w", strings.Join(cfg.Servers, ","), err)
	}
	d.conn, d.events = conn, events
	d.connReady.Store(conn)
	return d, nil
}

type driver struct {
	cfg  Config
	log  *slog.Logger
	acl  []zk.ACL
	conn *zk.Conn
	// connReady is conn for onEvent, which may run before New has set conn.
	connReady atomic.Pointer[zk.Conn]
	// events is the client's event channel; nobody reads it (events arrive
	// through onEvent) until Close, which drains it until the client's
	// goroutine closes it on exit.
	events <-chan zk.Event

	authMu sync.Mutex
	authed bool

	mu        sync.Mutex
	watchers  map[string]map[*watcher]struct{} // by service node path
	lost      chan struct{}                    // closed when the session's watches are gone; then replaced
	session   int64                            // last session ID seen
	onLoss    []func()                         // core.LossNotifier callbacks
	closed    chan struct{}
	closing   bool
	calls     sync.WaitGroup // goroutines of calls abandoned by their context
	closeOnce sync.Once
}

// call runs f, a blocking client call, and returns when it does or when ctx
// ends. The ZooKeeper client has no contexts; an abandoned call finishes in
// its goroutine (the client fails every request within about a second while
// disconnected, and all of them at Close), and Close waits for it.
func call[T any](ctx context.Context, d *driver, f func() (T, error)) (T, error) {
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	d.mu.Lock()
	if d.closing {
		d.mu.Unlock()
		return zero, core.ErrClosed
	}
	d.calls.Add(1)
	d.mu.Unlock()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer d.calls.Done()
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// auth sends the digest credentials once per driver; the client re-sends
// them by itself after every reconnect and on every new session.
func (d *driver) auth(ctx context.Context) error {
	if d.cfg.Username == "" {
		return nil
	}
	d.authMu.Lock()
	defer d.authMu.Unlock()
	if d.authed {
		return nil
	}
	_, err := call(ctx, d, func() (struct{}, error) {
		return struct{}{}, d.conn.AddAuth("digest", []byte(d.cfg.Username+":"+d.cfg.Password))
	})
	if err != nil {
		return fmt.Errorf("zookeeper: authenticate as %q: %w", d.cfg.Username, err)
	}
	d.authed = true
	return nil
}

func (d *driver) serviceDir(service string) string { return d.cfg.BasePath + "/" + service }

func (d *driver) nodePath(inst core.Instance) string {
	return d.serviceDir(inst.Service) + "/" + encodeAddr(inst.Addr)
}

// encodeAddr turns an address into a node name: '/' cannot appear in one.
// Addresses without '/' and '%' are left as they are, as rpcx stores them.
func encodeAddr(addr string) string {
	if !strings.ContainsAny(addr, "/%") {
		return addr
	}
	return strings.NewReplacer("%", "%25", "/", "%2F").Replace(addr)
}

func decodeAddr(name string) (string, error) {
	if !strings.Contains(name, "%") {
		return name, nil
	}
	return url.PathUnescape(name)
}

var _ core.NameValidator = (*driver)(nil)

// ValidateService rejects the service names ZooKeeper cannot hold as a node
// name, so that core fails them at once instead of retrying forever.
func (d *driver) ValidateService(service string) error {
	if err := validNodeName(service); err != nil {
		return fmt.Errorf("%w: zookeeper: service name %q: %v", core.ErrInvalid, service, err)
	}
	return nil
}

// validNodeName applies ZooKeeper's rules for one path element.
func validNodeName(name string) error {
	if name == "." || name == ".." {
		return errors.New("'.' and '..' are not node names")
	}
	for _, r := range name {
		if r == 0 || r > 0 && r < 0x20 || r >= 0x7f && r <= 0x9f || r >= 0xd800 && r <= 0xf8ff || r >= 0xfff0 {
			return fmt.Errorf("character %U is not allowed in a ZooKeeper node name", r)
		}
	}
	return nil
}

// errNodeMoved is returned by Put when the node vanished between our create
// and our read of it (a concurrent delete): core writes again.
var errNodeMoved = errors.New("zookeeper: node deleted while being written")

func (d *driver) Put(ctx context.Context, inst core.Instance, _ time.Duration) error {
	if err := inst.Validate(); err != nil {
		return err
	}
	if err := d.auth(ctx); err != nil {
		return err
	}
	if err := d.ValidateService(inst.Service); err != nil {
		return err
	}
	if err := validNodeName(encodeAddr(inst.Addr)); err != nil {
		return fmt.Errorf("%w: zookeeper: address %q: %v", core.ErrInvalid, inst.Addr, err)
	}
	path := d.nodePath(inst)
	data := []byte(inst.Meta.Encode())
	err := d.create(ctx, path, data)
	if errors.Is(err, zk.ErrNoNode) {
		if err = d.createParents(ctx, inst.Service); err != nil {
			return err
		}
		err = d.create(ctx, path, data)
	}
	if !errors.Is(err, zk.ErrNodeExists) {
		return d.wrap("create", path, err)
	}
	// The node exists. Ours (same session): update its data, versioned, so
	// that a concurrent writer is noticed instead of overwritten.
	type got struct {
		data []byte
		stat *zk.Stat
	}
	g, err := call(ctx, d, func() (got, error) {
		b, st, err := d.conn.Get(path)
		return got{b, st}, err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("%w: %s", errNodeMoved, path)
	}
	if err != nil {
		return d.wrap("read", path, err)
	}
	if owner := g.stat.EphemeralOwner; owner == d.conn.SessionID() && owner != 0 {
		if string(g.data) == string(data) {
			return nil
		}
		_, err := call(ctx, d, func() (*zk.Stat, error) { return d.conn.Set(path, data, g.stat.Version) })
		return d.wrap("update", path, err)
	}
	// Not ours: left by a previous session of this process (restarted within
	// the session timeout), a persistent node someone wrote, or the same
	// address registered by another live process. The address is being
	// registered here and now, so this registration replaces that node.
	d.log.Warn("zookeeper: replacing a node owned by another session (a previous run of this server, or the same address registered twice)",
		"path", path, "owner_session", fmt.Sprintf("0x%x", g.stat.EphemeralOwner), "our_session", fmt.Sprintf("0x%x", d.conn.SessionID()))
	_, err = call(ctx, d, func() (struct{}, error) { return struct{}{}, d.conn.Delete(path, g.stat.Version) })
	if err != nil && !errors.Is(err, zk.ErrNoNode) {
		return d.wrap("replace", path, err)
	}
	return d.wrap("create", path, d.create(ctx, path, data))
}

func (d *driver) create(ctx context.Context, path string, data []byte) error {
	_, err := call(ctx, d, func() (string, error) { return d.conn.Create(path, data, zk.FlagEphemeral, d.acl) })
	return err
}

// createParents creates the persistent nodes above a service's instances,
// with rpcx's data: "rpcx_path" on the base path node, the service name on
// the service node, nothing on the nodes above the base path.
func (d *driver) createParents(ctx context.Context, service string) error {
	parts := strings.Split(d.cfg.BasePath[1:], "/")
	path := ""
	for i, p := range append(parts, service) {
		path += "/" + p
		var data []byte
		switch i {
		case len(parts) - 1:
			data = []byte(basePathData)
		case len(parts):
			data = []byte(service)
		}
		_, err := call(ctx, d, func() (string, error) { return d.conn.Create(path, data, 0, d.acl) })
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return d.wrap("create", path, err)
		}
	}
	return nil
}

func (d *driver) KeepAlive(ctx context.Context, inst core.Instance, _ time.Duration) error {
	if err := inst.Validate(); err != nil {
		return err
	}
	path := d.nodePath(inst)
	stat, err := call(ctx, d, func() (*zk.Stat, error) {
		ok, st, err := d.conn.Exists(path)
		if err == nil && !ok {
			err = zk.ErrNoNode
		}
		return st, err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return fmt.Errorf("zookeeper: %s: %w", path, core.ErrNotFound)
	}
	if err != nil {
		return d.wrap("check", path, err)
	}
	if owner := stat.EphemeralOwner; owner == 0 || owner != d.conn.SessionID() {
		return fmt.Errorf("zookeeper: %s belongs to session 0x%x, not ours (0x%x): %w", path, owner, d.conn.SessionID(), core.ErrNotFound)
	}
	return nil
}

func (d *driver) Delete(ctx context.Context, inst core.Instance) error {
	if err := inst.Validate(); err != nil {
		return err
	}
	if err := d.auth(ctx); err != nil {
		return err
	}
	path := d.nodePath(inst)
	stat, err := call(ctx, d, func() (*zk.Stat, error) {
		ok, st, err := d.conn.Exists(path)
		if err == nil && !ok {
			err = zk.ErrNoNode
		}
		return st, err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	if err != nil {
		return d.wrap("check", path, err)
	}
	if owner := stat.EphemeralOwner; owner != 0 && owner != d.conn.SessionID() {
		// Another live session registered this address since: not our record.
		d.log.Debug("zookeeper: not deleting a node owned by another session", "path", path, "owner_session", fmt.Sprintf("0x%x", owner))
		return nil
	}
	_, err = call(ctx, d, func() (struct{}, error) { return struct{}{}, d.conn.Delete(path, stat.Version) })
	if errors.Is(err, zk.ErrNoNode) {
		return nil
	}
	return d.wrap("delete", path, err)
}

func (d *driver) List(ctx context.Context, service string) ([]core.Instance, error) {
	if err := core.ValidateService(service); err != nil {
		return nil, err
	}
	if err := d.ValidateService(service); err != nil {
		return nil, err
	}
	if err := d.auth(ctx); err != nil {
		return nil, err
	}
	dir := d.serviceDir(service)
	children, err := call(ctx, d, func() ([]string, error) {
		c, _, err := d.conn.Children(dir)
		return c, err
	})
	if errors.Is(err, zk.ErrNoNode) {
		return []core.Instance{}, nil
	}
	if err != nil {
		return nil, d.wrap("list", dir, err)
	}
	reads, err := d.readNodes(ctx, dir, children, false)
	if err != nil {
		return nil, err
	}
	out := make([]core.Instance, 0, len(children))
	for _, r := range reads {
		if r.missing {
			continue // deleted since the listing
		}
		if inst, err := parseNode(service, r.name, r.data); err != nil {
			d.log.Warn("zookeeper: skipping an unreadable instance node", "path", dir+"/"+r.name, "err", err)
		} else {
			out = append(out, inst)
		}
	}
	return out, nil
}

// maxParallelReads bounds the reads one List or watch update has in flight.
const maxParallelReads = 64

type nodeRead struct {
	name    string
	data    []byte
	missing bool // deleted since it was listed
}

// readNodes reads the data of dir's children names, setting a data watch on
// each if watch. The reads go out together: the client pipelines them on its
// one connection, so a thousand instances cost about one round trip, not a
// thousand.
func (d *driver) readNodes(ctx context.Context, dir string, names []string, watch bool) ([]nodeRead, error) {
	out := make([]nodeRead, len(names))
	errs := make([]error, len(names))
	read := func(i int) {
		path := dir + "/" + names[i]
		out[i].name = names[i]
		out[i].data, errs[i] = call(ctx, d, func() ([]byte, error) {
			if watch {
				b, _, _, err := d.conn.GetW(path)
				return b, err
			}
			b, _, err := d.conn.Get(path)
			return b, err
		})
		if errors.Is(errs[i], zk.ErrNoNode) {
			out[i].missing, errs[i] = true, nil
		}
	}
	if len(names) == 1 {
		read(0)
	} else {
		var wg sync.WaitGroup
		sem := make(chan struct{}, maxParallelReads)
		for i := range names {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				read(i)
			}()
		}
		wg.Wait()
	}
	for i, err := range errs {
		if err != nil {
			return nil, d.wrap("read", dir+"/"+names[i], err)
		}
	}
	return out, nil
}

// parseNode turns an instance node into an Instance, or says why it can't.
func parseNode(service, name string, data []byte) (core.Instance, error) {
	addr, err := decodeAddr(name)
	if err != nil {
		return core.Instance{}, fmt.Errorf("node name %q is not an escaped address: %v", name, err)
	}
	if err := core.ValidateAddr(addr); err != nil {
		return core.Instance{}, err
	}
	if !utf8.Valid(data) {
		return core.Instance{}, fmt.Errorf("data of %q is not text (%d bytes)", name, len(data))
	}
	meta, err := core.ParseMetadata(string(data))
	if err != nil {
		return core.Instance{}, err
	}
	return core.Instance{Service: service, Addr: addr, Meta: meta}, nil
}

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

// OnLoss implements core.LossNotifier: f runs when a new session replaced an
// expired one, so core writes the lost ephemeral nodes again at once.
func (d *driver) OnLoss(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onLoss = append(d.onLoss, f)
}

var _ core.LossNotifier = (*driver)(nil)

// onEvent receives every event of the client, from its goroutine: it must
// not block. Node events are handed to the watchers of the service they
// concern; the loss of the session's watches breaks every watcher.
func (d *driver) onEvent(ev zk.Event) {
	switch ev.Type {
	case zk.EventSession:
		switch ev.State {
		case zk.StateExpired:
			d.log.Warn("zookeeper: session expired; its ephemeral nodes are gone and get registered again on a new session",
				"server", ev.Server)
			d.breakWatches()
		case zk.StateHasSession:
			conn := d.connReady.Load()
			if conn == nil {
				break // New is still returning; this first session gets logged by no one
			}
			id := conn.SessionID()
			d.mu.Lock()
			prev := d.session
			d.session = id
			d.mu.Unlock()
			if prev != id {
				d.log.Info("zookeeper: session established", "server", ev.Server, "session", fmt.Sprintf("0x%x", id))
			}
			if prev != 0 && prev != id {
				// A new session replaced an expired one: our ephemeral nodes
				// are gone and can be written again now.
				d.mu.Lock()
				fns := slices.Clone(d.onLoss)
				d.mu.Unlock()
				for _, f := range fns {
					f()
				}
			}
		case zk.StateDisconnected:
			d.log.Debug("zookeeper: disconnected; the session and its watches live on until the session timeout", "server", ev.Server)
		}
	case zk.EventNotWatching:
		// The client dropped every watch: the session expired or the
		// client is closing.
		d.breakWatches()
	case zk.EventNodeCreated, zk.EventNodeDeleted, zk.EventNodeDataChanged, zk.EventNodeChildrenChanged:
		d.mu.Lock()
		for w := range d.watchers[ev.Path] {
			w.notify("")
		}
		if i := strings.LastIndexByte(ev.Path, '/'); i > 0 {
			for w := range d.watchers[ev.Path[:i]] {
				w.notify(ev.Path[i+1:])
			}
		}
		d.mu.Unlock()
	}
}

// breakWatches ends every open watcher: their watches are gone with the
// session. Core keeps their last lists and opens new ones.
func (d *driver) breakWatches() {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.lost:
		if d.closing {
			return
		}
	default:
		close(d.lost)
	}
	if !d.closing {
		d.lost = make(chan struct{})
	}
}

// Close closes the session (which deletes its ephemeral nodes) and waits for
// the client's goroutines to end.
func (d *driver) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closing = true
		close(d.closed)
		d.mu.Unlock()
		d.conn.Close()
		timeout := time.NewTimer(closeWait)
		defer timeout.Stop()
	drain:
		for {
			select {
			case _, ok := <-d.events:
				if !ok {
					break drain
				}
			case <-timeout.C:
				d.log.Warn("zookeeper: client still running after close", "waited", closeWait)
				break drain
			}
		}
		d.calls.Wait()
	})
	return nil
}

// wrap adds the operation and path to a client error, and nil stays nil.
// Errors never hold the password.
func (d *driver) wrap(op, path string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, core.ErrClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("zookeeper: %s %s: %w", op, path, err)
	}
	return fmt.Errorf("zookeeper: %s %s on %s: %w", op, path, strings.Join(d.cfg.Servers, ","), err)
}

// zkLogger routes the ZooKeeper client's own messages to slog: failures as
// warnings, the rest (connected, session ids, loops ending) at debug level.
type zkLogger struct{ l *slog.Logger }

func (z zkLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	level := slog.LevelDebug
	lower := strings.ToLower(msg)
	if strings.Contains(lower, "fail") || strings.Contains(lower, "error") || strings.Contains(lower, "gave up") {
		level = slog.LevelWarn
	}
	z.l.Log(context.Background(), level, "zookeeper client: "+msg)
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
	changed    map[string]bool // instance nodes whose data changed or that were deleted

	// Owned by the goroutine calling Next.
	started  bool
	children map[string]struct{} // names under the service node
	nodes    map[string]*node    // by node name; present = its data watch is set
}

func (w *watcher) notify(child string) {
	w.mu.Lock()
	if child == "" {
		w.dirChanged = true
	} else {
		w.changed[child] = true
	}
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

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
	for {
		w.mu.Lock()
		dirChanged, changed := w.dirChanged, w.changed
		w.dirChanged, w.changed = false, map[string]bool{}
		w.mu.Unlock()
		if dirChanged || len(changed) > 0 {
			if err := w.apply(ctx, dirChanged, changed); err != nil {
				return nil, err
			}
			return w.list(), nil
		}
		select {
		case <-w.signal:
		case <-w.lost:
			return nil, errors.New("zookeeper: session lost; watch ends")
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-w.ctx.Done():
			return nil, w.ctx.Err()
		case <-w.stop:
			return nil, core.ErrClosed
		case <-w.d.closed:
			return nil, core.ErrClosed
		}
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
	for name := range changed {
		if _, ok := w.children[name]; !ok {
			delete(w.nodes, name)
			continue
		}
		if fresh[name] {
			continue // just read, with a new watch
		}
		delete(w.nodes, name) // its watch fired
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
		exists, err := call(ctx, d, func() (bool, error) {
			ok, _, _, err := d.conn.ExistsW(w.dir)
			return ok, err
		})
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
	return call(ctx, w.d, func() ([]string, error) {
		c, _, _, err := w.d.conn.ChildrenW(w.dir)
		return c, err
	})
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
			w.d.log.Warn("zookeeper: skipping an unreadable instance node", "path", w.dir+"/"+r.name, "err", err)
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
