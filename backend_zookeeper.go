//go:build zookeeper

package discovery

// The ZooKeeper backend (scheme zk) is compiled in with -tags zookeeper.
import _ "github.com/seedforge/discovery/backend/zookeeper"
