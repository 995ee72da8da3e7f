package grpcdiscovery_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/grpcdiscovery"
	"github.com/seedforge/discovery/selector"
)

// Smooth weighted round robin follows the registered weights exactly once
// every server is ready: weights 1,1,2 give 100,100,200 of 400 calls.
func TestWeighted(t *testing.T) {
	leakCheck(t)
	url, _ := newRegistry("")
	servers := []*testServer{
		startServer(t, url, serverConfig{meta: core.Metadata{"weight": "1"}}),
		startServer(t, url, serverConfig{meta: core.Metadata{"weight": "1"}}),
		startServer(t, url, serverConfig{meta: core.Metadata{"weight": "2"}}),
	}
	conn := dial(t, open(t, url), "discovery:///Echo", grpcdiscovery.Weighted)
	warmUp(t, conn, servers...)
	counts := spread(t, context.Background(), conn, 400)
	for i, want := range []int{100, 100, 200} {
		if got := counts[servers[i].addr]; got < want-2 || got > want+2 {
			t.Fatalf("weights 1,1,2: %v", counts)
		}
	}
}

// Consistent hash: one key always reaches one server, from any channel, and
// the same server package selector picks for it (so gRPC and rpcx clients
// agree); different keys spread over every server.
func TestConsistentHash(t *testing.T) {
	leakCheck(t)
	url, _ := newRegistry("")
	servers := []*testServer{
		startServer(t, url, serverConfig{}),
		startServer(t, url, serverConfig{}),
		startServer(t, url, serverConfig{}),
	}
	cli := open(t, url)
	conn := dial(t, cli, "discovery:///Echo", grpcdiscovery.ConsistentHash)
	other := dial(t, cli, "discovery:///Echo", grpcdiscovery.ConsistentHash)
	// Until all are ready, keys of a missing server go elsewhere: wait for
	// each channel to use every server.
	warmUpKeys(t, conn, servers...)
	warmUpKeys(t, other, servers...)

	ref := selector.NewConsistentHash()
	insts, err := cli.Instances(context.Background(), "Echo")
	must(t, err)
	ref.Update(insts)

	used := map[string]int{}
	for k := range 60 {
		key := fmt.Sprintf("user-%d", k)
		ctx := grpcdiscovery.WithHashKey(context.Background(), key)
		pick, err := ref.Select(key)
		must(t, err)
		want := pick.Instance.HostPort()
		for range 3 {
			for _, c := range []*grpc.ClientConn{conn, other} {
				who, err := call(ctx, c)
				must(t, err)
				if who != want {
					t.Fatalf("key %s went to %s, want %s", key, who, want)
				}
			}
		}
		used[want]++
	}
	for _, s := range servers {
		if used[s.addr] == 0 {
			t.Fatalf("60 keys never reached %s: %v", s.addr, used)
		}
	}
	// Without a key a call is hashed by its method: one server.
	counts := spread(t, context.Background(), conn, 20)
	if len(counts) != 1 {
		t.Fatalf("calls without a key spread: %v", counts)
	}
}

// P2C learns latency from each call's Done: a slow server gets few calls.
func TestP2CAvoidsSlowServer(t *testing.T) {
	leakCheck(t)
	url, _ := newRegistry("")
	fast1 := startServer(t, url, serverConfig{})
	fast2 := startServer(t, url, serverConfig{})
	slow := startServer(t, url, serverConfig{delay: 50 * time.Millisecond})
	conn := dial(t, open(t, url), "discovery:///Echo", grpcdiscovery.P2C)
	warmUp(t, conn, fast1, fast2, slow)
	counts := spread(t, context.Background(), conn, 300)
	// Peak EWMA makes the two fast servers' shares uneven (one hiccup and a
	// server is shunned for a while); the slow one must stay under 5%.
	if counts[slow.addr] > 15 || counts[fast1.addr] < 30 || counts[fast2.addr] < 30 {
		t.Fatalf("p2c with a slow server: %v", counts)
	}
}

// LeastTPS prefers the server publishing the lowest tps, and follows the
// published values when they change, without reconnecting: metadata rides
// in BalancerAttributes, which are not part of a SubConn's identity.
func TestLeastTPSFollowsMetadata(t *testing.T) {
	leakCheck(t)
	url, _ := newRegistry("")
	a := startServer(t, url, serverConfig{meta: core.Metadata{"tps": "100"}, noMeter: true})
	b := startServer(t, url, serverConfig{meta: core.Metadata{"tps": "100"}, noMeter: true})
	c := startServer(t, url, serverConfig{meta: core.Metadata{"tps": "1"}, noMeter: true})
	conn := dial(t, open(t, url), "discovery:///Echo", grpcdiscovery.LeastTPS)
	warmUp(t, conn, a, b, c)
	// Of two random servers out of three, c is in the pair 2/3 of the time.
	counts := spread(t, context.Background(), conn, 300)
	if counts[c.addr] < 160 || counts[a.addr] < 15 || counts[b.addr] < 15 {
		t.Fatalf("least tps: %v", counts)
	}

	// a now publishes the lowest load.
	_, err := grpcdiscovery.Register(context.Background(), a.reg, "Echo", nil, core.Metadata{"tps": "0.5"},
		grpcdiscovery.WithAdvertiseAddr(a.addr))
	must(t, err)
	_, err = grpcdiscovery.Register(context.Background(), c.reg, "Echo", nil, core.Metadata{"tps": "100"},
		grpcdiscovery.WithAdvertiseAddr(c.addr))
	must(t, err)
	poll(t, "traffic following the new tps", func() bool {
		counts := spread(t, context.Background(), conn, 60)
		return counts[a.addr] >= 30 && counts[c.addr] <= 25
	})
	for _, s := range []*testServer{a, b, c} {
		if n := s.accepted.Load(); n != 1 {
			t.Fatalf("%s accepted %d connections: metadata changes reconnected", s.addr, n)
		}
	}
}

// One selector per channel, Updated on every picker rebuild (servers
// joining, metadata changing), so p2c's statistics survive them; a channel
// waking from idle mode builds a new balancer, hence a new selector.
func TestSelectorSurvivesPickerRebuilds(t *testing.T) {
	leakCheck(t)
	url, _ := newRegistry("")
	s1 := startServer(t, url, serverConfig{})
	cli := open(t, url)
	countingSelectors.Store(0)
	countingUpdates.Store(0)
	conn := dial(t, cli, "discovery:///Echo", countingPolicy)
	warmUp(t, conn, s1)
	s2 := startServer(t, url, serverConfig{})
	warmUp(t, conn, s1, s2)
	_, err := grpcdiscovery.Register(context.Background(), s1.reg, "Echo", nil, core.Metadata{"weight": "5"},
		grpcdiscovery.WithAdvertiseAddr(s1.addr))
	must(t, err)
	poll(t, "the metadata update", func() bool { return lastCountingWeight(s1.addr) == 5 })
	if n, u := countingSelectors.Load(), countingUpdates.Load(); n != 1 || u < 3 {
		t.Fatalf("%d selectors made, %d updates: want 1 selector, updated at each rebuild", n, u)
	}
}

const countingPolicy = "grpcdiscovery_test_counting"

var (
	countingSelectors, countingUpdates atomic.Int64
	countingLast                       sync.Map // addr → weight last given
)

func init() {
	grpcdiscovery.RegisterBalancer(countingPolicy, func() selector.Selector {
		countingSelectors.Add(1)
		return &countingSelector{Selector: selector.NewP2C()}
	})
}

type countingSelector struct{ selector.Selector }

func (s *countingSelector) Update(list []core.Instance) {
	countingUpdates.Add(1)
	for _, in := range list {
		countingLast.Store(in.HostPort(), in.Meta.Weight())
	}
	s.Selector.Update(list)
}

func lastCountingWeight(addr string) int {
	w, _ := countingLast.Load(addr)
	n, _ := w.(int)
	return n
}

// warmUpKeys is warmUp for consistent hash: calls with changing keys until
// every server has answered.
func warmUpKeys(t *testing.T, conn *grpc.ClientConn, servers ...*testServer) {
	t.Helper()
	seen := map[string]bool{}
	i := 0
	poll(t, "every server answering some key", func() bool {
		i++
		who, err := call(grpcdiscovery.WithHashKey(context.Background(), fmt.Sprint("warm-", i)), conn)
		if err == nil {
			seen[who] = true
		}
		for _, s := range servers {
			if !seen[s.addr] {
				return false
			}
		}
		return true
	})
}
