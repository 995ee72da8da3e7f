//go:build zookeeper

package zookeeper_test

import (
	"errors"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rpcxio/libkv/store"
	libkvzk "github.com/rpcxio/libkv/store/zookeeper"

	"github.com/seedforge/discovery/backend/zookeeper"
	"github.com/seedforge/discovery/backend/zookeeper/zktest"
	"github.com/seedforge/discovery/core"
)

// TestRPCXInterop talks to the registry through github.com/rpcxio/libkv
// v0.5.1's ZooKeeper store, the code that rpcx's ZooKeeper plugins
// (github.com/rpcxio/rpcx-zookeeper: the server's ZooKeeperRegisterPlugin
// and the client's ZookeeperDiscovery) store and read through. That module
// itself is not served by the module proxy, so the test makes the calls its
// plugins make, in their order, with their arguments:
//
//   - server Register: Put(base, "rpcx_path", IsDir), Put(base/svc, svc,
//     IsDir), AtomicPut(base/svc/addr, metadata, nil, TTL) (ephemeral);
//     its refresh loop: Get, add tps to the query, Put(…, TTL) (SetData);
//     Unregister: Delete.
//   - client: List(base/svc) for the first servers, WatchTree(base/svc) for
//     changes; a pair's Key is the server address, Value its metadata.
func TestRPCXInterop(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	ctx := ctxFor(t, 60*time.Second)
	const base = "rpcx_interop" // rpcx strips the leading '/'
	kv, err := libkvzk.New([]string{srv.Addr()}, &store.Config{ConnectionTimeout: 4 * time.Second})
	must(t, err)
	var closeKV sync.Once
	t.Cleanup(func() { closeKV.Do(kv.Close) })

	ours := newClient(t, newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: "/" + base}), 2*time.Second)
	ch, err := ours.dis.Watch(ctx, "Arith", core.IncludeInactive())
	must(t, err)
	rec := record(t, ch)

	// rpcx server → our discovery.
	rpcxAddr := "tcp@127.0.0.1:8972"
	node := base + "/Arith/" + rpcxAddr
	must(t, kv.Put(base, []byte("rpcx_path"), &store.WriteOptions{IsDir: true}))
	must(t, kv.Put(base+"/Arith", []byte("Arith"), &store.WriteOptions{IsDir: true}))
	if _, _, err := kv.AtomicPut(node, []byte("group=blue"), nil, &store.WriteOptions{TTL: 2 * time.Second}); err != nil {
		t.Fatalf("rpcx register: %v", err)
	}
	rec.waitFor(t, 10*time.Second, "the rpcx server", func(l []core.Instance) bool {
		return len(l) == 1 && l[0].Addr == rpcxAddr && l[0].Meta["group"] == "blue"
	})
	// rpcx's refresh loop publishes load by rewriting the data only.
	pair, err := kv.Get(node)
	must(t, err)
	v, _ := url.ParseQuery(string(pair.Value))
	v.Set("tps", "12.50")
	v.Set("state", "inactive")
	must(t, kv.Put(node, []byte(v.Encode()), &store.WriteOptions{TTL: 2 * time.Second}))
	rec.waitFor(t, 10*time.Second, "the rpcx server's new tps and state", func(l []core.Instance) bool {
		return len(l) == 1 && l[0].Meta["tps"] == "12.50" && l[0].Meta.Inactive()
	})

	// Our server → rpcx client.
	a := core.Instance{Service: "Arith", Addr: "tcp@127.0.0.1:9001", Meta: core.Metadata{"weight": "2"}}
	must(t, ours.reg.Register(ctx, a))
	pairs, err := kv.List(base + "/Arith")
	must(t, err)
	got := map[string]string{}
	for _, p := range pairs {
		got[p.Key] = string(p.Value)
	}
	if got[a.Addr] != "weight=2" || len(got) != 2 {
		t.Fatalf("rpcx client lists %v; want our server as %s → weight=2 beside the rpcx one", got, a.Addr)
	}
	stop := make(chan struct{})
	tree, err := kv.WatchTree(base+"/Arith", stop)
	must(t, err)
	var (
		mu     sync.Mutex
		latest []string
		wake   = make(chan struct{}, 1)
		done   = make(chan struct{})
	)
	go func() {
		defer close(done)
		for ps := range tree {
			var keys []string
			for _, p := range ps {
				keys = append(keys, p.Key)
			}
			slices.Sort(keys)
			mu.Lock()
			latest = keys
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		// libkv's goroutine notices stop only while it waits for an event,
		// and its client's calls never return once closed: stop it first.
		for deadline := time.Now().Add(10 * time.Second); watchTreeWaiting() != nil && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond) // polling interval; the deadline decides
		}
		close(stop)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("libkv's WatchTree goroutine did not end")
		}
		closeKV.Do(kv.Close)
	})
	waitTree := func(want ...string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			mu.Lock()
			l := latest
			mu.Unlock()
			if slices.Equal(l, want) {
				return
			}
			select {
			case <-wake:
			case <-deadline:
				t.Fatalf("rpcx client's WatchTree shows %v, want %v", l, want)
			}
		}
	}
	waitTree(rpcxAddr, a.Addr)
	// libkv lists, hands the list over, and only then sets its children
	// watch: a change in between is never reported (rpcx's client has that
	// race; it is not ours to fix). ZooKeeper's four-letter words do not show
	// children watches, so wait until libkv's goroutine waits for an event.
	poll(t, 10*time.Second, "the rpcx client's children watch set", watchTreeWaiting)
	b := core.Instance{Service: "Arith", Addr: "tcp@127.0.0.1:9002"}
	must(t, ours.reg.Register(ctx, b))
	waitTree(rpcxAddr, a.Addr, b.Addr)
	poll(t, 10*time.Second, "the rpcx client's children watch set", watchTreeWaiting)
	must(t, ours.reg.Deregister(ctx, a))
	waitTree(rpcxAddr, b.Addr)

	// rpcx Unregister.
	must(t, kv.Delete(node))
	rec.waitFor(t, 10*time.Second, "the rpcx server gone", hasAddrs(b.Addr))
}

// watchTreeWaiting reports whether libkv's WatchTree goroutine is blocked
// in its select on the watch event, that is, with its children watch set.
func watchTreeWaiting() error {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, rest, _ := strings.Cut(g, "\n")
		top, _, _ := strings.Cut(rest, "\n")
		if strings.Contains(header, "[select") && strings.Contains(top, "libkv/store/zookeeper.(*Zookeeper).WatchTree.func1") {
			return nil
		}
	}
	return errors.New("libkv's WatchTree goroutine is not waiting for an event")
}
