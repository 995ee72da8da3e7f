//go:build zookeeper

package discovery_test

import (
	"testing"
	"time"

	"github.com/seedforge/discovery/backend/zookeeper/zktest"
)

func TestDrainZooKeeper(t *testing.T) {
	s := zktest.Start(t)
	checkDrain(t, "zk://"+s.Addr()+"/drain?session_timeout=4s&ttl=4s", 4*time.Second)
}
