//go:build etcd

package etcd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/seedforge/discovery/core"
)

// DefaultBasePath is the base path of the keys when neither the URL nor
// Config names one.
const DefaultBasePath = "/services"

// DefaultDialTimeout bounds what New does on the network: with a user name,
// the client authenticates before New returns.
const DefaultDialTimeout = 5 * time.Second

// reconnect is how the gRPC connection under the client comes back after an
// outage. It is not a retry policy of ours: gRPC reconnects on its own, and
// calls wait for it. Its default lets the wait grow to two minutes, which
// would hold core's re-registration and re-watching back long after etcd
// returned; this keeps gRPC's jittered exponential shape with a 2s ceiling,
// so core's backoff is what paces recovery.
var reconnect = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 250 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
	MinConnectTimeout: 5 * time.Second,
}

// Config configures a driver made in code.
type Config struct {
	// Endpoints are the etcd members, host:port (or http:// / https:// URLs).
	Endpoints []string
	// Username and Password authenticate when the cluster has auth enabled.
	Username, Password string
	// BasePath prefixes every key, exactly as given, without a trailing
	// slash: "/rpcx_test" gives /rpcx_test/{service}/{address}. Default
	// DefaultBasePath.
	BasePath string
	// TLS, when not nil, secures the connections.
	TLS *tls.Config
	// DialTimeout bounds New's connection and authentication. Default
	// DefaultDialTimeout. Without a user name New does not wait for the
	// network at all: an unreachable cluster shows up as errors of the calls.
	DialTimeout time.Duration
	// Logger receives the warnings about skipped keys and the etcd client's
	// errors. Default slog.Default().
	Logger *slog.Logger
}

func init() {
	core.RegisterBackend(core.Backend{Scheme: "etcd", Open: open,
		Options: append([]string{"dial_timeout", "base_path"}, core.TLSOptions...)})
}

// New connects to etcd. The returned driver is meant for core (or the root
// package's discovery.New), which owns and closes it.
func New(cfg Config) (core.Driver, error) {
	return newDriver(cfg)
}

func newDriver(cfg Config) (*driver, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("%w: etcd needs at least one endpoint such as 127.0.0.1:2379", core.ErrInvalid)
	}
	for _, ep := range cfg.Endpoints {
		if strings.TrimSpace(ep) == "" || strings.ContainsAny(ep, " \t\n,") {
			return nil, fmt.Errorf("%w: etcd endpoint %q must be one host:port", core.ErrInvalid, ep)
		}
	}
	if cfg.Password != "" && cfg.Username == "" {
		return nil, fmt.Errorf("%w: etcd password given without a user name", core.ErrInvalid)
	}
	base, err := basePath(cfg.BasePath)
	if err != nil {
		return nil, err
	}
	if cfg.DialTimeout < 0 {
		return nil, fmt.Errorf("%w: etcd dial timeout %v must be positive", core.ErrInvalid, cfg.DialTimeout)
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	causes := &connCauses{}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		Username:    cfg.Username,
		Password:    cfg.Password,
		TLS:         cfg.TLS,
		DialTimeout: cfg.DialTimeout,
		// Probe idle connections, so a peer that vanished without a reset
		// (a partition) is noticed. etcd refuses pings more frequent than 5s.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		DialOptions:          []grpc.DialOption{grpc.WithConnectParams(reconnect)},
		Logger:               zapLogger(log, causes),
	})
	if err != nil {
		// The client's errors never hold the password; the endpoints are safe.
		return nil, fmt.Errorf("etcd %s: connect: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &driver{
		cli:    cli,
		base:   base,
		log:    log,
		ctx:    ctx,
		cancel: cancel,
		grant:  make(chan struct{}, 1),
		causes: causes,
	}
	d.own = newOwnKeys(d)
	d.watches = newWatchMux(d)
	return d, nil
}

// basePath checks and normalises a base path: no trailing slash, no empty
// elements, no white space; "" and "/" mean DefaultBasePath.
func basePath(p string) (string, error) {
	p = strings.TrimRight(p, "/")
	if p == "" {
		return DefaultBasePath, nil
	}
	if strings.Contains(p, "//") || strings.ContainsAny(p, " \t\n") {
		return "", fmt.Errorf("%w: etcd base path %q must not contain empty elements or white space", core.ErrInvalid, p)
	}
	return p, nil
}

// driver implements core.Driver on one etcd client.
type driver struct {
	cli  *clientv3.Client
	base string
	log  *slog.Logger

	ctx     context.Context // ends on Close; parent of the keep-alive stream
	cancel  context.CancelFunc
	grant   chan struct{} // one-slot semaphore: one lease grant at a time
	own     *ownKeys      // our keys, watched, so KeepAlive needs no read
	watches *watchMux     // the service watches' shared stream
	causes  *connCauses   // the client's latest connection error, for fail

	mu     sync.Mutex
	lease  *lease // the lease of every key we write; nil before the first Put
	closed bool
	wg     sync.WaitGroup // keep-alive drain and own-key watch goroutines
}

// lease is one granted lease and its keep-alive stream.
type lease struct {
	id     clientv3.LeaseID
	dead   chan struct{} // closed when the keep-alive stream ended
	cancel context.CancelFunc
}

func (l *lease) alive() bool {
	select {
	case <-l.dead:
		return false
	default:
		return true
	}
}

func (d *driver) key(service, addr string) string { return d.base + "/" + service + "/" + addr }

func (d *driver) prefix(service string) string { return d.base + "/" + service + "/" }

// current returns the live lease, or nil.
func (d *driver) current() *lease {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.lease != nil && d.lease.alive() {
		return d.lease
	}
	return nil
}

// liveLease returns the driver's lease, granting a new one (and starting its
// keep-alive stream) when there is none, when its stream ended, or when it is
// the lease the caller found gone (stale).
func (d *driver) liveLease(ctx context.Context, ttl time.Duration, stale clientv3.LeaseID) (*lease, error) {
	if l := d.current(); l != nil && l.id != stale {
		return l, nil
	}
	select {
	case d.grant <- struct{}{}:
		defer func() { <-d.grant }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Another caller may have granted one while we waited.
	if l := d.current(); l != nil && l.id != stale {
		return l, nil
	}
	if err := d.ctx.Err(); err != nil {
		return nil, core.ErrClosed
	}
	resp, err := d.cli.Grant(ctx, ttlSeconds(ttl))
	if err != nil {
		return nil, d.fail("grant lease", err)
	}
	kaCtx, kaCancel := context.WithCancel(d.ctx)
	ch, err := d.cli.KeepAlive(kaCtx, resp.ID)
	if err != nil {
		kaCancel()
		return nil, d.fail(fmt.Sprintf("keep lease %x alive", resp.ID), err)
	}
	l := &lease{id: resp.ID, dead: make(chan struct{}), cancel: kaCancel}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		kaCancel()
		return nil, core.ErrClosed
	}
	old := d.lease
	d.lease = l
	d.wg.Add(1)
	d.mu.Unlock()
	go func() {
		defer d.wg.Done()
		// The client closes ch when the lease is gone (revoked, expired, or
		// no answer within its TTL) or when kaCtx ends. Responses carry
		// nothing we need; they must be read so the client never drops them.
		for range ch {
		}
		close(l.dead)
		kaCancel()
	}()
	if old != nil {
		old.cancel() // stop keeping the replaced lease alive
	}
	return l, nil
}

// ttlSeconds converts a TTL to etcd's whole seconds, rounding up.
func ttlSeconds(ttl time.Duration) int64 {
	s := int64(math.Ceil(ttl.Seconds()))
	return max(s, 1)
}

func (d *driver) Put(ctx context.Context, inst core.Instance, ttl time.Duration) error {
	if err := inst.Validate(); err != nil {
		return err
	}
	key, val := d.key(inst.Service, inst.Addr), inst.Meta.Encode()
	d.own.track(inst.Service, key)
	var rev int64
	id, err := d.onLease(ctx, ttl, func(id clientv3.LeaseID) error {
		resp, err := d.cli.Put(ctx, key, val, clientv3.WithLease(id))
		if err != nil {
			return d.fail("put "+key, err)
		}
		rev = resp.Header.Revision
		return nil
	})
	if err != nil {
		return err
	}
	d.own.put(key, id, rev)
	return nil
}

var _ core.ConditionalPutter = (*driver)(nil)

// PutIf is Put in one transaction with the read core makes before it: the
// write happens only if the stored value is prev's (no key when prev is
// nil); otherwise the same round trip returns the stored record. Values are
// compared as bytes, in our encoding: a record someone wrote in another
// encoding (or not as metadata at all) fails every try, and core then reads
// and writes it plainly, once; after that it is ours again.
func (d *driver) PutIf(ctx context.Context, inst core.Instance, ttl time.Duration, prev *core.Instance) (stored core.Instance, found, written bool, err error) {
	if err := inst.Validate(); err != nil {
		return core.Instance{}, false, false, err
	}
	key, val := d.key(inst.Service, inst.Addr), inst.Meta.Encode()
	cond := clientv3.Compare(clientv3.CreateRevision(key), "=", 0)
	if prev != nil {
		// A missing key fails a value comparison, as it should.
		cond = clientv3.Compare(clientv3.Value(key), "=", prev.Meta.Encode())
	}
	d.own.track(inst.Service, key)
	var resp *clientv3.TxnResponse
	id, err := d.onLease(ctx, ttl, func(id clientv3.LeaseID) error {
		var err error
		resp, err = d.cli.Txn(ctx).If(cond).
			Then(clientv3.OpPut(key, val, clientv3.WithLease(id))).
			Else(clientv3.OpGet(key)).Commit()
		if err != nil {
			return d.fail("put "+key, err)
		}
		return nil
	})
	if err != nil {
		return core.Instance{}, false, false, err
	}
	if resp.Succeeded {
		d.own.put(key, id, resp.Header.Revision)
		return core.Instance{}, false, true, nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return core.Instance{}, false, false, nil
	}
	stored, found = d.parse(inst.Service, d.prefix(inst.Service), kvs[0].Key, kvs[0].Value)
	return stored, found, false, nil
}

// onLease runs write with the driver's live lease. A lease revoked or
// expired before the keep-alive stream told us is noticed by the write,
// which then grants the lease it needs and runs once more.
func (d *driver) onLease(ctx context.Context, ttl time.Duration, write func(clientv3.LeaseID) error) (clientv3.LeaseID, error) {
	l, err := d.liveLease(ctx, ttl, 0)
	if err != nil {
		return 0, err
	}
	err = write(l.id)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		if l, err = d.liveLease(ctx, ttl, l.id); err != nil {
			return 0, err
		}
		err = write(l.id)
	}
	return l.id, err
}

func (d *driver) KeepAlive(ctx context.Context, inst core.Instance, _ time.Duration) error {
	key := d.key(inst.Service, inst.Addr)
	l := d.current()
	if l == nil {
		return fmt.Errorf("etcd %s: lease lost: %w", key, core.ErrNotFound)
	}
	// The lease is kept alive by its stream; what can be lost is the key
	// (deleted by someone else, or rewritten on another lease). The watch on
	// our own keys usually knows (ownKeys), without a request.
	if ok, known := d.own.state(key, l.id); known {
		if !ok {
			return fmt.Errorf("etcd %s: deleted, or not on lease %x: %w", key, l.id, core.ErrNotFound)
		}
		return nil
	}
	// Otherwise one round trip: is the key still attached to our lease? A
	// missing key has lease 0.
	resp, err := d.cli.Txn(ctx).If(clientv3.Compare(clientv3.LeaseValue(key), "=", l.id)).Commit()
	if err != nil {
		return d.fail("check "+key, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("etcd %s: missing or not on lease %x: %w", key, l.id, core.ErrNotFound)
	}
	d.own.confirmed(key, l.id, resp.Header.Revision)
	return nil
}

func (d *driver) Delete(ctx context.Context, inst core.Instance) error {
	key := d.key(inst.Service, inst.Addr)
	d.own.untrack(key)
	if _, err := d.cli.Delete(ctx, key); err != nil {
		return d.fail("delete "+key, err)
	}
	return nil
}

func (d *driver) List(ctx context.Context, service string) ([]core.Instance, error) {
	if err := core.ValidateService(service); err != nil {
		return nil, err
	}
	prefix := d.prefix(service)
	resp, err := d.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, d.fail("get "+prefix, err)
	}
	list := make([]core.Instance, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if in, ok := d.parse(service, prefix, kv.Key, kv.Value); ok {
			list = append(list, in)
		}
	}
	return list, nil
}

// ReadRecord implements core.RecordReader: one key, not the service's
// prefix.
func (d *driver) ReadRecord(ctx context.Context, service, addr string) (core.Instance, bool, error) {
	key := d.key(service, addr)
	resp, err := d.cli.Get(ctx, key)
	if err != nil {
		return core.Instance{}, false, d.fail("get "+key, err)
	}
	if len(resp.Kvs) == 0 {
		return core.Instance{}, false, nil
	}
	in, ok := d.parse(service, d.prefix(service), resp.Kvs[0].Key, resp.Kvs[0].Value)
	return in, ok, nil
}

var _ core.RecordReader = (*driver)(nil)

// parse turns one key/value under prefix into an instance. Values that are
// not metadata are logged (bounded) and skipped; core keeps out keys that
// are not an instance's address.
func (d *driver) parse(service, prefix string, key, value []byte) (core.Instance, bool) {
	addr := strings.TrimPrefix(string(key), prefix)
	meta, err := core.ParseMetadata(string(value))
	if err != nil {
		d.log.Warn("discovery: etcd: skipping an instance whose value is not metadata", "key", core.StoreData(string(key)), "err", err)
		return core.Instance{}, false
	}
	return core.Instance{Service: service, Addr: addr, Meta: meta}, true
}

func (d *driver) Watch(ctx context.Context, service string) (core.Watcher, error) {
	if err := core.ValidateService(service); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return nil, core.ErrClosed
	}
	wctx, cancel := context.WithCancel(ctx)
	return &watcher{d: d, service: service, prefix: d.prefix(service), ctx: wctx, cancel: cancel}, nil
}

// Close stops the keep-alive stream and closes the client. It revokes
// nothing: the keys expire after their TTL, as the Driver contract says.
func (d *driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
	return d.cli.Close()
}
