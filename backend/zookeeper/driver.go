//go:build zookeeper

package zookeeper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
		armed:    map[string]*pathWatches{},
		owned:    map[string]ownCheck{},
		lost:     make(chan struct{}),
		closed:   make(chan struct{}),
	}
	if cfg.Username != "" {
		d.acl = append(zk.DigestACL(zk.PermAll, cfg.Username, cfg.Password), zk.WorldACL(zk.PermRead)...)
	} else {
		d.acl = zk.WorldACL(zk.PermAll)
	}
	conn, events, err := zk.Connect(cfg.Servers, cfg.SessionTimeout,
		zk.WithLogger(zkLogger{l: d.log, lastDial: &d.lastDial}),
		zk.WithEventCallback(d.onEvent),
		zk.WithDialer(d.sockets.dial),
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

	watchRequests atomic.Int64 // watches set, for tests

	authMu sync.Mutex
	authed bool

	mu        sync.Mutex
	watchers  map[string]map[*watcher]struct{} // by service node path
	lost      chan struct{}                    // closed when the session's watches are gone; then replaced
	session   int64                            // last session ID seen
	onLoss    []func()                         // core.LossNotifier callbacks
	armed     map[string]*pathWatches          // watches the client holds, by node path (watches.go)
	owned     map[string]ownCheck              // our nodes, found ours under a data watch (watches.go)
	closed    chan struct{}
	closing   bool
	calls     sync.WaitGroup // goroutines of calls abandoned by their context
	closeOnce sync.Once
	sockets   sockets // the client's connection, for Close to cut
	// lastDial is the client's latest "failed to connect" line: it returns
	// a bare ErrNoServer and only logs why (connection refused, DNS…).
	lastDial atomic.Pointer[string]
}

// sockets holds the client's current TCP connection. The client reads a
// handshake for up to 20/3 × the session timeout and has no way to be
// interrupted: Close cuts the socket instead, and dials nothing after.
type sockets struct {
	mu     sync.Mutex
	conn   net.Conn
	closed bool
}

func (s *sockets) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, core.ErrClosed
	}
	c, err := net.DialTimeout(network, addr, timeout)
	if err == nil {
		s.conn = c
	}
	return c, err
}

// cut closes the current connection and refuses new ones.
func (s *sockets) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.conn != nil {
		s.conn.Close()
	}
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

// Close closes the session (which deletes its ephemeral nodes) and waits for
// the client's goroutines to end.
func (d *driver) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.closing = true
		close(d.closed)
		d.mu.Unlock()
		// With a session, close it (its ephemeral nodes go at once); the
		// client waits at most a second for the answer. Without one there is
		// nothing to close, and a server that accepted without answering
		// would hold the client in its handshake: cut the socket first.
		if d.conn.State() != zk.StateHasSession {
			d.sockets.cut()
		}
		d.conn.Close()
		d.sockets.cut()
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
	if last := d.lastDial.Load(); last != nil && errors.Is(err, zk.ErrNoServer) {
		// The client's error says no server answered; its log says why.
		return fmt.Errorf("zookeeper: %s %s on %s: %w (%s)", op, path, strings.Join(d.cfg.Servers, ","), err, *last)
	}
	return fmt.Errorf("zookeeper: %s %s on %s: %w", op, path, strings.Join(d.cfg.Servers, ","), err)
}

// zkLogger routes the ZooKeeper client's own messages to slog: failures as
// warnings, the rest (connected, session ids, loops ending) at debug level.
type zkLogger struct {
	l        *slog.Logger
	lastDial *atomic.Pointer[string]
}

func (z zkLogger) Printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if strings.HasPrefix(msg, "failed to connect to ") && z.lastDial != nil {
		z.lastDial.Store(&msg)
	}
	level := slog.LevelDebug
	lower := strings.ToLower(msg)
	if strings.Contains(lower, "fail") || strings.Contains(lower, "error") || strings.Contains(lower, "gave up") {
		level = slog.LevelWarn
	}
	z.l.Log(context.Background(), level, "zookeeper client: "+msg)
}
