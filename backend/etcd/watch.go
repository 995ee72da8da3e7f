//go:build etcd

package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seedforge/discovery/core"
)

// watcher is one etcd watch on a service's prefix. The first Next reads the
// prefix; later ones fold the watch's events into that list. Anything that
// breaks the watch (compaction past our revision, a closed channel, an error,
// lost leader) ends it with an error: core then opens a new watcher, whose
// first Next reads the prefix again.
type watcher struct {
	d       *driver
	service string
	prefix  string
	ctx     context.Context // the watch's whole life; ends on Close
	cancel  context.CancelFunc

	wch   clientv3.WatchChan // nil until the first Next
	insts map[string]core.Instance
	once  sync.Once
}

// errWatchClosed reports a watch channel the client closed without a reason.
var errWatchClosed = errors.New("etcd watch closed")

func (w *watcher) Next(ctx context.Context) ([]core.Instance, error) {
	if w.wch == nil {
		return w.load(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case resp, ok := <-w.wch:
			if !ok {
				if err := w.ctx.Err(); err != nil {
					return nil, err
				}
				return nil, fmt.Errorf("%s: %w", w.prefix, errWatchClosed)
			}
			if err := resp.Err(); err != nil {
				// Compacted, cancelled, or no leader: re-read from scratch.
				return nil, w.d.fail("watch "+w.prefix, err)
			}
			changed := false
			for _, ev := range resp.Events {
				if w.apply(ev) {
					changed = true
				}
			}
			if changed {
				return w.list(), nil
			}
			// Progress notification or keys that are not instances.
		}
	}
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
	w.wch = w.d.cli.Watch(clientv3.WithRequireLeader(w.ctx), w.prefix,
		clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1), clientv3.WithPrevKV())
	return w.list(), nil
}

// apply folds one event into the map and reports whether the list changed.
func (w *watcher) apply(ev *clientv3.Event) bool {
	addr := strings.TrimPrefix(string(ev.Kv.Key), w.prefix)
	switch ev.Type {
	case mvccpb.DELETE:
		if _, ok := w.insts[addr]; ok {
			delete(w.insts, addr)
			return true
		}
		return false
	default: // PUT: a new instance or new metadata
		in, ok := w.d.parse(w.service, w.prefix, ev.Kv.Key, ev.Kv.Value)
		if !ok {
			// A value we can't read replaces a good one: drop that instance.
			_, had := w.insts[addr]
			delete(w.insts, addr)
			return had
		}
		w.insts[addr] = in
		return true
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
	w.once.Do(w.cancel)
	return nil
}
