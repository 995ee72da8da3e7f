//go:build zookeeper

package zookeeper

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/go-zookeeper/zk"

	"github.com/seedforge/discovery/core"
)

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
				// The first session is routine (debug); one replacing an
				// expired session is news an operator wants (info).
				level := slog.LevelDebug
				if prev != 0 {
					level = slog.LevelInfo
				}
				d.log.Log(context.Background(), level, "zookeeper: session established", "server", ev.Server, "session", fmt.Sprintf("0x%x", id))
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
		d.watchFired(ev) // before the watchers read again
		for w := range d.watchers[ev.Path] {
			w.notify("", false)
		}
		if i := strings.LastIndexByte(ev.Path, '/'); i > 0 {
			for w := range d.watchers[ev.Path[:i]] {
				w.notify(ev.Path[i+1:], ev.Type == zk.EventNodeDeleted)
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
	d.watchesDropped()
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
