//go:build zookeeper

package zookeeper

import (
	"github.com/go-zookeeper/zk"

	"github.com/seedforge/discovery/core"
)

// SessionID returns the ZooKeeper session of a driver made by New, for tests.
func SessionID(d core.Driver) int64 { return d.(*driver).conn.SessionID() }

// State returns the connection state of a driver made by New, for tests.
func State(d core.Driver) zk.State { return d.(*driver).conn.State() }

// NodeName is the node name an address is stored under.
func NodeName(addr string) string { return encodeAddr(addr) }

// WatchRequests counts the watches a driver made by New asked its client to
// set: each one stays in the client until its node changes.
func WatchRequests(d core.Driver) int64 { return d.(*driver).watchRequests.Load() }

// HeldWatches counts the watches the driver records its client holding.
func HeldWatches(d core.Driver) int { return d.(*driver).heldWatches() }

// Server returns the server a driver made by New is connected to.
func Server(d core.Driver) string { return d.(*driver).conn.Server() }
