//go:build zookeeper

package zookeeper_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/seedforge/discovery/backend/zookeeper"
	"github.com/seedforge/discovery/backend/zookeeper/zktest"
	"github.com/seedforge/discovery/core"
	"github.com/seedforge/discovery/core/coretest"
)

// TestRequestsPerInterval: one process with 1,000 registrations makes at most
// 5 requests per refresh interval, as the server counts them (zk_packets_received,
// pings included): each refresh is answered by a data watch on the node
// instead of a read. A node deleted by someone else still comes back within
// one interval.
func TestRequestsPerInterval(t *testing.T) {
	leakCheck(t)
	srv := zktest.Start(t)
	ctx := ctxFor(t, 2*time.Minute)
	const n, ttl = 1000, 3 * time.Second
	const base = "/requests"
	c := newClient(t, newDriver(t, zookeeper.Config{Servers: []string{srv.Addr()}, BasePath: base}), ttl)
	interval := ttl / core.TTLPerInterval
	// Each registration is two round trips (its stored record read by
	// path, then created); 1,000 take 1-5 s under -race from 64 goroutines
	// (over 2 minutes when each read listed the whole service).
	registering := time.Now()
	regCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	coretest.RegisterMany(t, regCtx, c.reg, n, func(i int) core.Instance {
		return core.Instance{Service: "S", Addr: fmt.Sprintf("tcp@127.0.0.1:%d", 10000+i)}
	})
	cancel()
	t.Logf("%d registrations written in %v", n, time.Since(registering).Round(time.Millisecond))

	// Every node is checked once (setting its watch) in its first refresh.
	coretest.RequestsPerInterval(t, interval, 4*interval+10*time.Second, 5, func() map[string]int {
		return map[string]int{"packets": packetsReceived(t, srv)}
	})

	// Deleted by someone else: back within one interval (plus the refresh
	// jitter and slack for the loaded machine).
	raw := rawConn(t, srv.Addr(), "")
	path := base + "/S/" + "tcp@127.0.0.1:10042"
	if err := raw.Delete(path, -1); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	poll(t, interval+interval/10+time.Second, "the deleted node written again", func() error {
		ok, st, err := raw.Exists(path)
		if err != nil {
			return err
		}
		if !ok || st.EphemeralOwner == 0 {
			return zk.ErrNoNode
		}
		return nil
	})
	t.Logf("deleted node back after %v", time.Since(deleted).Round(time.Millisecond))
}

var packetsRe = regexp.MustCompile(`zk_packets_received\s+(\d+)`)

// packetsReceived is the server's count of packets received from clients
// (mntr's zk_packets_received): every request and ping.
func packetsReceived(t testing.TB, srv *zktest.Server) int {
	t.Helper()
	out, err := zktest.FourLetter(srv.Addr(), "mntr")
	if err != nil {
		t.Fatal(err)
	}
	m := packetsRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("mntr answered %q", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
