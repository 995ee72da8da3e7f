//go:build consul

package consul

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/seedforge/discovery/core"
)

// kvOwn lets KeepAlive in kv mode answer from what the driver already knows,
// instead of renewing the session and reading its key for every instance
// every interval (two requests per instance). The driver's one session is
// renewed at most once per half interval for all its keys; a key lost
// (deleted, its session gone, or held by another session) is seen by one
// blocking query per service prefix the driver registers in, which Consul
// answers only when something under the prefix changed.
//
// The watch vouches for a key once an answer showed it held by our session
// at an index past the last answer that did not. Indexes are Consul's own,
// so an answer that was on its way while the key was written again cannot
// undo the write. A Put that acquires a key the watch does not vouch for
// (new, or lost) reads it once to learn its index; KeepAlive reads a key
// while the watch is failing, as before.
type kvOwn struct {
	d  *kvDriver
	wg sync.WaitGroup // the watches; Close waits for them

	mu      sync.Mutex
	keys    map[string]*kvOwnKey
	watches map[string]*kvOwnWatch // by service prefix

	renewMu    sync.Mutex // one renewal at a time
	renewedSID string     // the session last renewed, and when
	renewedAt  time.Time
}

type kvOwnKey struct {
	watch *kvOwnWatch
	// goodIdx is the ModifyIndex at which the key was last seen held by our
	// session; lostIdx the index of an answer that showed it missing or held
	// by another. Lost while lostIdx > goodIdx; unknown while goodIdx is 0.
	goodIdx, lostIdx uint64
}

type kvOwnWatch struct {
	live bool // the last query answered; false while it fails
}

// kvOwnRetry paces the own-key watch after a failed query (agent down).
var kvOwnRetry = core.Backoff{Base: 200 * time.Millisecond, Cap: 5 * time.Second}

func newKVOwn(d *kvDriver) *kvOwn {
	return &kvOwn{d: d, keys: map[string]*kvOwnKey{}, watches: map[string]*kvOwnWatch{}}
}

// track makes key, under service, one of ours, starting the watch of the
// service's prefix if it is the first. Called before each Put of the key: a
// new key is unknown until an answer (or a read) shows it held by our
// session.
func (o *kvOwn) track(service, key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	prefix := o.d.prefix(service)
	w := o.watches[prefix]
	if w == nil {
		if o.d.closed() {
			return
		}
		w = &kvOwnWatch{}
		o.watches[prefix] = w
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			o.run(prefix, w)
		}()
	}
	if o.keys[key] == nil {
		o.keys[key] = &kvOwnKey{watch: w}
	}
}

// untrack forgets key (deleted). The prefix's watch stays until Close.
func (o *kvOwn) untrack(key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.keys, key)
}

// state says whether key is held by session sid (ok), and whether the
// watch knows enough to say so without a read (known).
func (o *kvOwn) state(key, sid string) (ok, known bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := o.keys[key]
	switch {
	case k == nil || sid == "":
		return false, false
	case k.lostIdx > k.goodIdx:
		return false, true
	case k.goodIdx == 0 || !k.watch.live:
		return false, false
	}
	return true, true
}

// confirmed records a read that found key held by our session at index idx.
func (o *kvOwn) confirmed(key string, idx uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if k := o.keys[key]; k != nil {
		k.goodIdx = max(k.goodIdx, idx)
	}
}

// run keeps one blocking query on prefix until the driver closes.
func (o *kvOwn) run(prefix string, w *kvOwnWatch) {
	d := o.d
	var pairs api.KVPairs
	scope := readScope{op: "list " + prefix, resource: "key", segment: prefix, needs: fmt.Sprintf("key:read on the prefix %q", prefix)}
	bw := d.newWatcher(d.ctx, func(ctx context.Context, index uint64, wait time.Duration) ([]core.Instance, uint64, error) {
		p, meta, err := d.api.KV().List(prefix, d.query(ctx, index, wait))
		if err := d.checkAnswer(ctx, scope, err, meta, len(p) == 0); err != nil {
			return nil, 0, err
		}
		pairs = p
		return nil, meta.LastIndex, nil
	})
	defer bw.Close()
	bo := kvOwnRetry
	for {
		if _, err := bw.nextAnswer(d.ctx); err != nil {
			if d.closed() {
				return
			}
			o.mu.Lock()
			w.live = false
			o.mu.Unlock()
			if !core.Sleep(d.ctx, bo.Next()) {
				return
			}
			continue
		}
		bo.Reset()
		o.apply(w, pairs, bw.last)
	}
}

// apply takes one answer for w's prefix, at index idx.
func (o *kvOwn) apply(w *kvOwnWatch, pairs api.KVPairs, idx uint64) {
	sid := o.d.current()
	held := make(map[string]uint64, len(pairs))
	for _, p := range pairs {
		if sid != "" && p.Session == sid {
			held[p.Key] = p.ModifyIndex
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	w.live = true
	for key, k := range o.keys {
		if k.watch != w {
			continue
		}
		if modified, ok := held[key]; ok {
			k.goodIdx = max(k.goodIdx, modified)
		} else {
			k.lostIdx = max(k.lostIdx, idx)
		}
	}
}

// renew renews session sid unless it was renewed within every: one renewal
// serves every key of the driver.
func (o *kvOwn) renew(ctx context.Context, sid string, every time.Duration) error {
	o.renewMu.Lock()
	defer o.renewMu.Unlock()
	if o.renewedSID == sid && time.Since(o.renewedAt) < every {
		return nil
	}
	d := o.d
	entry, _, err := d.api.Session().Renew(sid, d.write(ctx))
	if err != nil {
		return d.fail("renew session", err)
	}
	if entry == nil { // 404: expired, destroyed, or the agent restarted
		d.forget(sid)
		return fmt.Errorf("consul kv: session expired: %w", core.ErrNotFound)
	}
	o.renewedSID, o.renewedAt = sid, time.Now()
	return nil
}
