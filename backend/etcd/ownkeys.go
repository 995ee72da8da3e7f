//go:build etcd

package etcd

import (
	"context"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seedforge/discovery/core"
)

// ownKeys lets KeepAlive answer from what the driver already knows instead of
// reading every key every refresh interval (2,000 registrations were 2,000
// reads per interval). The lease is kept alive by its own stream; what can
// still be lost is a key, deleted or rewritten on another lease by someone
// else. One watch per service this driver registers in sees every such
// change: a change to one of our keys that is not ours marks the key lost,
// and KeepAlive then reports core.ErrNotFound, so core writes it again at its
// next refresh, within one interval as before.
//
// The watch only vouches for what happened after it was established (its
// revision). A key last confirmed before that, and any key while the watch
// is down (starting, or resuming after an error), is checked by one read in
// KeepAlive as before; a successful read confirms it at the read's revision.
type ownKeys struct {
	d *driver

	mu      sync.Mutex
	keys    map[string]*ownKey
	watches map[string]*ownWatch // by service prefix
}

type ownKey struct {
	watch *ownWatch
	lease clientv3.LeaseID // of our last successful put
	// goodRev is the revision at which the key was known to be ours: our
	// last put, or the last read that found it on our lease.
	goodRev int64
	// lostRev is the revision of the last change to the key that was not
	// ours: a delete, or a put on another lease. Lost while lostRev > goodRev.
	lostRev int64
}

type ownWatch struct {
	live bool  // established; events since from are all delivered
	from int64 // the revision the watch vouches for changes after
}

// ownRestartDelay paces re-creating a service's watch after the client closed
// it (compaction, lost leader). Meanwhile KeepAlive reads, so nothing is
// missed; the delay only keeps a failing watch from spinning.
const ownRestartDelay = time.Second

func newOwnKeys(d *driver) *ownKeys {
	return &ownKeys{d: d, keys: map[string]*ownKey{}, watches: map[string]*ownWatch{}}
}

// track makes key, under service, one of ours, starting the service's watch
// if it is the first. Called before each Put of the key.
func (o *ownKeys) track(service, key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.keys[key] != nil {
		return
	}
	prefix := o.d.prefix(service)
	w := o.watches[prefix]
	if w == nil {
		w = &ownWatch{}
		if !o.start(prefix, w) {
			return // closed: Put fails anyway
		}
		o.watches[prefix] = w
	}
	o.keys[key] = &ownKey{watch: w}
}

// put records a successful put of key on lease at revision rev.
func (o *ownKeys) put(key string, lease clientv3.LeaseID, rev int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if k := o.keys[key]; k != nil {
		k.lease = lease
		k.goodRev = max(k.goodRev, rev)
	}
}

// confirmed records a read at revision rev that found key on lease.
func (o *ownKeys) confirmed(key string, lease clientv3.LeaseID, rev int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if k := o.keys[key]; k != nil && k.lease == lease {
		k.goodRev = max(k.goodRev, rev)
	}
}

// state says whether key is still ours on lease (ok), and whether the watch
// knows enough to say so without a read (known).
func (o *ownKeys) state(key string, lease clientv3.LeaseID) (ok, known bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	k := o.keys[key]
	if k == nil || k.goodRev == 0 {
		return false, false
	}
	if k.lease != lease || k.lostRev > k.goodRev {
		return false, true
	}
	if !k.watch.live || k.goodRev < k.watch.from {
		return false, false
	}
	return true, true
}

// untrack forgets key (deregistered). The service's watch stays until
// Close, even with no key left: a server that deregisters and registers
// again (a drain, a restart of its listener) would otherwise open and cancel
// a watch each time.
func (o *ownKeys) untrack(key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.keys, key)
}

// start runs the watch of prefix in a goroutine that Close waits for; false
// if the driver is closed.
func (o *ownKeys) start(prefix string, w *ownWatch) bool {
	d := o.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		o.run(d.ctx, prefix, w)
	}()
	return true
}

// run keeps one watch on prefix until ctx ends, on the driver's shared
// watch stream, which resumes it across broken connections. A watch that
// ends anyway (compaction past it, a lost leader) starts afresh, from now:
// keys are then read once more.
func (o *ownKeys) run(ctx context.Context, prefix string, w *ownWatch) {
	for ctx.Err() == nil {
		// Progress notifications keep the resume revision recent on a quiet
		// prefix, so a resume does not fall behind a compaction.
		if mw, err := o.d.watches.watch(ctx, prefix, 0, true); err == nil {
			o.follow(ctx, mw, w)
			o.d.watches.release(mw)
		}
		o.mu.Lock()
		w.live = false
		o.mu.Unlock()
		core.Sleep(ctx, ownRestartDelay)
	}
}

// follow applies mw's responses until it ends.
func (o *ownKeys) follow(ctx context.Context, mw *muxWatch, w *ownWatch) {
	for {
		resps, err := mw.next(ctx)
		if err != nil {
			return
		}
		for _, resp := range resps {
			if resp.Canceled {
				return
			}
			o.apply(w, resp)
		}
	}
}

// apply takes one watch response: the watch's creation (from now on, so
// keys confirmed earlier need one read), or events.
func (o *ownKeys) apply(w *ownWatch, resp *pb.WatchResponse) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if resp.Created {
		w.live = true
		w.from = resp.Header.GetRevision()
		return
	}
	for _, ev := range resp.Events {
		k := o.keys[string(ev.Kv.Key)]
		if k == nil {
			continue // someone else's instance
		}
		if ev.Type == mvccpb.DELETE || clientv3.LeaseID(ev.Kv.Lease) != k.lease {
			// A put of ours on a new lease can arrive before Put returns;
			// it is then at the put's own revision, which goodRev reaches.
			k.lostRev = max(k.lostRev, ev.Kv.ModRevision)
		}
	}
}
