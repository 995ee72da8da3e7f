//go:build zookeeper

package main

import (
	"testing"

	"github.com/seedforge/discovery/backend/zookeeper/zktest"
	"github.com/seedforge/discovery/internal/leaktest"
)

func init() { buildTags = append(buildTags, "zookeeper") }

// TestZooKeeper runs the register/get/list/watch flow against a real
// ZooKeeper server (skipped without java unless CI is set), then an
// unreachable one.
func TestZooKeeper(t *testing.T) {
	leaktest.Check(t)
	zk := zktest.Start(t)
	t.Run("flow", func(t *testing.T) { registryFlow(t, "zk://"+zk.Addr()+"/discovery_cli", "Arith") })
	t.Run("unreachable", func(t *testing.T) { unreachable(t, "zk://"+closedPort(t)+"/discovery_cli") })
}
