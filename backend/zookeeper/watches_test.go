//go:build zookeeper

package zookeeper_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/zookeeper"
	"github.com/seedforge/discovery/backend/zookeeper/zktest"
	"github.com/seedforge/discovery/core"
)

// TestReopenedWatchesDoNotAccumulate: go-zookeeper keeps every watch set
// until its node changes and cannot remove one, and core opens a watcher
// again after every error. Reopening a watch on a service of n instances
// many times must not ask the client for new watches (each one would stay
// in its lists), while every change still reaches the open watcher and the
// server holds exactly one watch per node.
func TestReopenedWatchesDoNotAccumulate(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	ctx := ctxFor(t, 60*time.Second)
	const n = 20
	base := "/bounded"
	reg := newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: base})
	for i := range n {
		must(t, reg.Put(ctx, core.Instance{Service: "svc", Addr: fmt.Sprintf("tcp@127.0.0.1:%d", 7000+i)}, time.Second))
	}
	d := newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: base})
	open := func() (core.Watcher, []core.Instance) {
		w, err := d.Watch(ctx, "svc")
		must(t, err)
		l, err := w.Next(ctx)
		must(t, err)
		return w, l
	}
	const want = n + 1 // a data watch per instance and the children watch
	for i := range 30 {
		w, l := open()
		if len(l) != n {
			t.Fatalf("open %d: %d instances, want %d", i, len(l), n)
		}
		must(t, w.Close())
	}
	if got := zookeeper.WatchRequests(d); got != want {
		t.Fatalf("30 opens asked the client for %d watches, want %d (one per node)", got, want)
	}
	if got := zookeeper.HeldWatches(d); got != want {
		t.Fatalf("driver records %d watches held, want %d", got, want)
	}
	serverWatches(t, srv, want)

	// Changes still reach a watcher opened on watches set by closed ones.
	w, _ := open()
	defer w.Close()
	changed := core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:7000", Meta: core.Metadata{"state": "inactive"}}
	must(t, reg.Put(ctx, changed, time.Second))
	nextUntil(ctx, t, w, "the metadata change", func(l []core.Instance) bool {
		for _, in := range l {
			if in.Addr == changed.Addr {
				return in.Meta["state"] == "inactive"
			}
		}
		return false
	})
	must(t, reg.Delete(ctx, core.Instance{Service: "svc", Addr: "tcp@127.0.0.1:7001"}))
	nextUntil(ctx, t, w, "the deletion", func(l []core.Instance) bool { return len(l) == n-1 })
	// The data watch that fired is set again, the deleted node's is not
	// read again, and the children watch is set again: two more requests in
	// all. The deletion's two events may reach the watcher apart, so the
	// children watch may be set by the next open rather than by w.
	if got := zookeeper.WatchRequests(d); got > want+2 {
		t.Fatalf("after a change and a deletion: %d watch requests, want at most %d", got, want+2)
	}
	for range 10 {
		w2, _ := open()
		must(t, w2.Close())
	}
	if got := zookeeper.WatchRequests(d); got != want+2 {
		t.Fatalf("a change, a deletion and 10 more opens: %d watch requests, want %d", got, want+2)
	}
	serverWatches(t, srv, want-1)
}

// nextUntil calls w.Next until ok accepts a list.
func nextUntil(ctx context.Context, t *testing.T, w core.Watcher, what string, ok func([]core.Instance) bool) {
	t.Helper()
	for {
		l, err := w.Next(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok(l) {
			return
		}
	}
}

var watchCount = regexp.MustCompile(`zk_watch_count\s+(\d+)`)

// serverWatches checks the server's own count of watches (zk_watch_count of
// the mntr four-letter word, data and children watches; wchs counts only
// data watches): one per node and kind, whatever the client asked.
func serverWatches(t *testing.T, srv *zktest.Server, want int) {
	t.Helper()
	poll(t, 10*time.Second, "server's watch count", func() error {
		out, err := zktest.FourLetter(srv.Addr(), "mntr")
		if err != nil {
			return err
		}
		m := watchCount.FindStringSubmatch(out)
		if m == nil {
			return fmt.Errorf("mntr answered %q", out)
		}
		if got, _ := strconv.Atoi(m[1]); got != want {
			return fmt.Errorf("server holds %d watches, want %d", got, want)
		}
		return nil
	})
}
