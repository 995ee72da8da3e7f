//go:build consul

package consul

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/seedforge/discovery/core"
)

// kvDriver keeps instances in rpcx's KV layout, every key acquired by the
// driver's one session.
type kvDriver struct {
	*client
	base string
	sem  chan struct{} // one-slot semaphore: one session creation at a time

	own *kvOwn // our keys, watched, so KeepAlive needs no read

	mu      sync.Mutex
	session string // the live session's ID, "" before the first Put or once lost
}

// Close ends the driver's calls and watches, and waits for the own-key
// watches to return.
func (d *kvDriver) Close() error {
	err := d.client.Close()
	d.own.wg.Wait()
	return err
}

func (d *kvDriver) key(service, addr string) string { return d.base + "/" + service + "/" + addr }

func (d *kvDriver) prefix(service string) string { return d.base + "/" + service + "/" }

func (d *kvDriver) current() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.session
}

// forget drops session id, unless another call already replaced it.
func (d *kvDriver) forget(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.session == id {
		d.session = ""
	}
}

// sessionTTL is the session TTL that makes keys live ttl: Consul invalidates
// a session twice its TTL after the last renewal (rpcxio/libkv halves too).
func sessionTTL(ttl time.Duration) time.Duration {
	return max(ttl/2, time.Millisecond)
}

// liveSession returns the driver's session, creating it when there is none
// or when it is stale, the one the caller found gone.
func (d *kvDriver) liveSession(ctx context.Context, ttl time.Duration, stale string) (string, error) {
	if s := d.current(); s != "" && s != stale {
		return s, nil
	}
	select {
	case d.sem <- struct{}{}:
		defer func() { <-d.sem }()
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if s := d.current(); s != "" && s != stale {
		return s, nil // made by another caller meanwhile
	}
	host, _ := os.Hostname()
	id, _, err := d.api.Session().Create(&api.SessionEntry{
		Name:      fmt.Sprintf("rpcx registrations of pid %d on %s", os.Getpid(), host),
		Behavior:  api.SessionBehaviorDelete, // its keys go when it does
		TTL:       sessionTTL(ttl).String(),
		LockDelay: time.Millisecond, // 0 would mean Consul's 15s, blocking re-registration after a loss
	}, d.write(ctx))
	if err != nil {
		var se api.StatusError
		if errors.As(err, &se) && strings.Contains(se.Body, "Invalid Session TTL") {
			return "", fmt.Errorf("%w: consul kv: ttl %v needs a session TTL of %v, which the agent refuses (%s): mode=kv needs ttl >= twice the agent's session_ttl_min (10s by default, so ttl >= 20s)",
				core.ErrInvalid, ttl, sessionTTL(ttl), strings.TrimSpace(se.Body))
		}
		return "", d.fail("create session", err)
	}
	d.mu.Lock()
	d.session = id
	d.mu.Unlock()
	return id, nil
}

func isInvalidSession(err error) bool {
	var se api.StatusError
	return errors.As(err, &se) && strings.Contains(strings.ToLower(se.Body), "invalid session")
}

func (d *kvDriver) Put(ctx context.Context, inst core.Instance, ttl time.Duration) error {
	if err := inst.Validate(); err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("%w: consul kv: ttl %v must be positive", core.ErrInvalid, ttl)
	}
	if d.closed() {
		return core.ErrClosed
	}
	ctx, cancel := d.bind(ctx)
	defer cancel()
	key := d.key(inst.Service, inst.Addr)
	sid, err := d.liveSession(ctx, ttl, "")
	if err != nil {
		return err
	}
	d.own.track(inst.Service, key)
	// Flags as rpcxio/libkv writes them.
	pair := &api.KVPair{Key: key, Value: []byte(inst.Meta.Encode()), Flags: api.LockFlagValue, Session: sid}
	ok, _, err := d.api.KV().Acquire(pair, d.write(ctx))
	if err != nil && isInvalidSession(err) {
		// Expired or destroyed before a KeepAlive told us: this Put is what
		// notices, so it makes the session it needs (once).
		d.forget(sid)
		if sid, err = d.liveSession(ctx, ttl, sid); err != nil {
			return err
		}
		pair.Session = sid
		ok, _, err = d.api.KV().Acquire(pair, d.write(ctx))
	}
	if err != nil {
		return d.fail("acquire "+key, err)
	}
	if !ok {
		// Another session holds the key: a previous process on this address
		// whose session has not expired yet. Write the value anyway, so the
		// record is current; KeepAlive reports ErrNotFound until that session
		// expires (deleting the key) and core's next Put acquires it.
		pair.Session = ""
		if _, err := d.api.KV().Put(pair, d.write(ctx)); err != nil {
			return d.fail("put "+key, err)
		}
		d.log.Info("discovery: consul kv: key held by another session, probably a previous process on this address; taken over once that session expires",
			"key", key)
		return nil
	}
	if ok, known := d.own.state(key, sid); !ok || !known {
		// New or lost: learn the index the watch must get past. Once per
		// Put of such a key, never per interval.
		_, err := d.read(ctx, key, sid)
		return err
	}
	return nil
}

func (d *kvDriver) KeepAlive(ctx context.Context, inst core.Instance, ttl time.Duration) error {
	if d.closed() {
		return core.ErrClosed
	}
	key := d.key(inst.Service, inst.Addr)
	sid := d.current()
	if sid == "" {
		return fmt.Errorf("consul kv %s: no live session: %w", key, core.ErrNotFound)
	}
	ctx, cancel := d.bind(ctx)
	defer cancel()
	// Renewed at most twice an interval, whatever the number of keys.
	if err := d.own.renew(ctx, sid, ttl/(2*core.TTLPerInterval)); err != nil {
		return err
	}
	ok, known := d.own.state(key, sid)
	if !known {
		if ok, err := d.read(ctx, key, sid); err != nil || ok {
			return err
		}
	}
	if !ok {
		return fmt.Errorf("consul kv %s: missing or not held by this driver's session: %w", key, core.ErrNotFound)
	}
	return nil
}

// read reports whether key is held by session sid, by reading it, and
// tells the own-key watch what it found.
func (d *kvDriver) read(ctx context.Context, key, sid string) (bool, error) {
	pair, _, err := d.api.KV().Get(key, d.query(ctx, 0, 0))
	if err != nil {
		return false, d.fail("get "+key, err)
	}
	if pair == nil || pair.Session != sid {
		return false, nil
	}
	d.own.confirmed(key, pair.ModifyIndex)
	return true, nil
}

func (d *kvDriver) Delete(ctx context.Context, inst core.Instance) error {
	if d.closed() {
		return core.ErrClosed
	}
	ctx, cancel := d.bind(ctx)
	defer cancel()
	key := d.key(inst.Service, inst.Addr)
	d.own.untrack(key)
	if _, err := d.api.KV().Delete(key, d.write(ctx)); err != nil && statusCode(err) != http.StatusNotFound {
		return d.fail("delete "+key, err)
	}
	return nil
}

func (d *kvDriver) List(ctx context.Context, service string) ([]core.Instance, error) {
	return d.list(ctx, service, d.fetch)
}

func (d *kvDriver) Watch(ctx context.Context, service string) (core.Watcher, error) {
	return d.watch(ctx, service, d.fetch)
}

// fetch lists the prefix of service. Each fetchFunc warns once per bad key
// and version, so a watch does not repeat a warning at every change.
func (d *kvDriver) fetch(service string) fetchFunc {
	prefix := d.prefix(service)
	warned := map[string]uint64{}
	scope := readScope{op: "list " + prefix, resource: "key", segment: prefix, needs: fmt.Sprintf("key:read on the prefix %q", prefix)}
	return func(ctx context.Context, index uint64, wait time.Duration) ([]core.Instance, uint64, error) {
		pairs, meta, err := d.api.KV().List(prefix, d.query(ctx, index, wait))
		if err := d.checkAnswer(ctx, scope, err, meta, len(pairs) == 0); err != nil {
			return nil, 0, err
		}
		list := make([]core.Instance, 0, len(pairs))
		for _, p := range pairs {
			in, err := parseKV(service, prefix, p)
			if err != nil {
				if warned[p.Key] != p.ModifyIndex {
					warned[p.Key] = p.ModifyIndex
					d.log.Warn("discovery: consul kv: skipping a key whose value is not metadata", "key", core.StoreData(p.Key), "err", err)
				}
				continue
			}
			if in.Addr == "" {
				continue // the folder key itself
			}
			list = append(list, in)
		}
		return list, meta.LastIndex, nil
	}
}

// parseKV turns one pair under prefix into an instance; the folder key
// ({prefix} itself) gives an instance with no address and no error.
func parseKV(service, prefix string, p *api.KVPair) (core.Instance, error) {
	addr := strings.TrimPrefix(p.Key, prefix)
	if addr == "" {
		return core.Instance{}, nil
	}
	meta, err := core.ParseMetadata(string(p.Value))
	if err != nil {
		return core.Instance{}, err
	}
	return core.Instance{Service: service, Addr: addr, Meta: meta}, nil
}
