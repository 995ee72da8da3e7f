//go:build etcd

package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seedforge/discovery/core"
)

// watcher is one etcd watch on a service's prefix. The first Next reads the
// prefix; later ones fold the watch's events into that list. Anything that
// breaks the watch (compaction past our revision, a broken stream, an error,
// lost leader) ends it with an error: core then opens a new watcher, whose
// first Next reads the prefix again.
type watcher struct {
	d       *driver
	service string
	prefix  string
	ctx     context.Context // the watch's whole life; ends on Close
	cancel  context.CancelFunc

	insts map[string]core.Instance

	mu     sync.Mutex // guards mw against Close
	mw     *muxWatch  // nil until the first Next
	closed bool
}

// errWatchCancelled reports a watch etcd cancelled without saying why.
var errWatchCancelled = errors.New("etcd cancelled the watch")

var _ core.DeltaWatcher = (*watcher)(nil)

// Next returns the list read from the prefix on the first call, then the
// list after each batch of events.
func (w *watcher) Next(ctx context.Context) ([]core.Instance, error) {
	if w.mw == nil {
		return w.load(ctx)
	}
	if _, err := w.NextChange(ctx); err != nil {
		return nil, err
	}
	return w.list(), nil
}

// NextChange returns what one batch of etcd events changed: etcd says what
// changed, so core gets it as is instead of a new full list.
func (w *watcher) NextChange(ctx context.Context) (core.Change, error) {
	if w.mw == nil {
		return core.Change{}, errors.New("etcd watch: NextChange before the first Next")
	}
	for {
		resps, err := w.mw.next(ctx)
		if err != nil {
			if werr := w.ctx.Err(); werr != nil {
				return core.Change{}, werr
			}
			// The stream broke (no leader, connection lost): re-read.
			return core.Change{}, w.d.fail("watch "+w.prefix, err)
		}
		// The last event of a key in the batch wins.
		last := map[string]*core.Instance{}
		for _, resp := range resps {
			if resp.Canceled {
				// Compacted past our revision, or refused: re-read.
				return core.Change{}, w.d.fail("watch "+w.prefix, cancelReason(resp))
			}
			for _, ev := range resp.Events {
				w.apply(ev, last)
			}
		}
		var c core.Change
		for addr, in := range last {
			if in != nil {
				c.Put = append(c.Put, *in)
			} else {
				c.Deleted = append(c.Deleted, addr)
			}
		}
		if len(last) > 0 {
			return c, nil
		}
		// Progress notifications, or keys that are not instances.
	}
}

// cancelReason is why etcd cancelled a watch.
func cancelReason(resp *pb.WatchResponse) error {
	switch {
	case resp.CompactRevision != 0:
		return fmt.Errorf("%w (compacted to revision %d)", rpctypes.ErrCompacted, resp.CompactRevision)
	case resp.CancelReason != "":
		return errors.New(resp.CancelReason)
	}
	return errWatchCancelled
}

// load reads the prefix and starts the watch just after the revision read.
func (w *watcher) load(ctx context.Context) ([]core.Instance, error) {
	resp, err := w.d.cli.Get(ctx, w.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, w.d.fail("get "+w.prefix, err)
	}
	if err := w.ctx.Err(); err != nil {
		return nil, err
	}
	w.insts = make(map[string]core.Instance, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if in, ok := w.d.parse(w.service, w.prefix, kv.Key, kv.Value); ok {
			w.insts[in.Addr] = in
		}
	}
	// WithRequireLeader: a member cut off from its cluster ends the watch
	// instead of going silent, so core re-opens it on a healthy member.
	mw, err := w.d.watches.watch(ctx, w.prefix, resp.Header.Revision+1, false)
	if err != nil {
		return nil, w.d.fail("watch "+w.prefix, err)
	}
	w.mu.Lock()
	closed := w.closed
	if !closed {
		w.mw = mw
	}
	w.mu.Unlock()
	if closed {
		w.d.watches.release(mw)
		return nil, w.ctx.Err()
	}
	return w.list(), nil
}

// apply folds one event into the map and records in last what became of
// its address: the instance, or nil when it left the list.
func (w *watcher) apply(ev *mvccpb.Event, last map[string]*core.Instance) {
	addr := strings.TrimPrefix(string(ev.Kv.Key), w.prefix)
	in, ok := core.Instance{}, false
	if ev.Type != mvccpb.DELETE { // PUT: a new instance or new metadata
		in, ok = w.d.parse(w.service, w.prefix, ev.Kv.Key, ev.Kv.Value)
	}
	_, had := w.insts[addr]
	switch {
	case ok:
		w.insts[addr] = in
		last[addr] = &in
	case had:
		// Deleted, or a value we can't read replaced a good one: drop it.
		delete(w.insts, addr)
		last[addr] = nil
	}
}

func (w *watcher) list() []core.Instance {
	out := make([]core.Instance, 0, len(w.insts))
	for _, in := range w.insts {
		out = append(out, in)
	}
	return out
}

// Close cancels the etcd watch; the client then ends its stream if no other
// watch shares it.
func (w *watcher) Close() error {
	w.cancel()
	w.mu.Lock()
	mw, closed := w.mw, w.closed
	w.closed = true
	w.mu.Unlock()
	if mw != nil && !closed {
		w.d.watches.release(mw)
	}
	return nil
}
